"""Vonage's SMS API: inbound messages and delivery receipts in (GET or POST), /sms/json out.

Docs: https://developer.vonage.com/messaging/sms/guides/inbound-sms (inbound, concatenation),
https://developer.vonage.com/messaging/sms/guides/delivery-receipts (receipts, err-code),
https://developer.vonage.com/getting-started/concepts/signing-messages (`sig`),
https://developer.vonage.com/api/sms (sending), https://developer.vonage.com/api-errors/sms (codes).

One part of a long inbound message as Vonage sends it (signed, method GET, ids shortened)::

    GET /webhooks/vonage/inbound?msisdn=33612345678&to=12015550124&messageId=1700000011A2B3C4
        &text=STOP+&type=text&keyword=STOP&message-timestamp=2026-12-01+17%3A26%3A40
        &timestamp=1764610000&nonce=6a1f…&concat=true&concat-ref=108&concat-total=3&concat-part=1
        &sig=0b1c… HTTP/1.1

Numbers arrive without "+"; we add it. The parts of a long message arrive as separate
webhooks, in any order; `parse_inbound` returns each with its `Part`, and the edge
(`gateway/providers/reassembly.py`) joins them before any keyword is matched. `keyword` is only the
first word of the text and is ignored (kept in `raw`).

`sig` (signature secret; the algorithm is chosen in Vonage's dashboard, GATEWAY_VONAGE_SIGNATURE_METHOD):
every field but `sig`, sorted by name, as `&name=value` with "&" and "=" in values replaced by
"_"; md5hash appends the secret and takes MD5, the others are HMAC-MD5/SHA1/SHA256/SHA512
keyed with the secret; lower-case hex (vonage-python-sdk's `check_signature`). The signed
`timestamp` must be within 300 s of our clock, so a captured webhook cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

import httpx2

from gateway.encoding import GSM7_ALL
from gateway.providers.base import (
    Credentials,
    InboundMessage,
    MalformedWebhook,
    OutboundMessage,
    Part,
    RawRequest,
    Rejected,
    Retryable,
    SendResult,
    Status,
    StatusEvent,
    Throttled,
    WebhookRejected,
    check_fresh,
    e164,
    map_code,
    parse_retry_after,
    raise_if_transient,
    response_json,
    server_now,
    status_of,
    twilio_fields,
)
from gateway.providers.module import ProviderModule, setting

log = logging.getLogger(__name__)

METHODS = ("md5hash", "md5", "sha1", "sha256", "sha512")  # what GATEWAY_VONAGE_SIGNATURE_METHOD may name

#: Delivery-receipt `status` words.
STATUS: dict[str, Status] = {
    "accepted": Status.SENT,  # taken by the downstream carrier
    "buffered": Status.SENT,  # the carrier is still trying
    "delivered": Status.DELIVERED,
    "expired": Status.UNDELIVERED,
    "failed": Status.UNDELIVERED,
    "rejected": Status.FAILED,
}

#: Receipt `err-code` → the Twilio code an app written for Twilio already handles. Each row, its
#: meaning and its source: docs/provider-error-codes.md (a test holds the two equal).
RECEIPT_ERRORS: dict[int, int] = {
    1: 30008,  # unknown
    2: 30003,  # absent subscriber, temporary
    3: 30005,  # absent subscriber, permanent
    4: 30004,  # call barred by user
    5: 30008,  # portability error
    6: 30007,  # anti-spam rejection
    7: 30003,  # handset busy
    8: 30008,  # network error
    9: 21610,  # illegal number: the recipient asked not to receive messages (Opt-out Assist)
    10: 30008,  # illegal message: an error in a message parameter
    11: 30006,  # unroutable
    12: 30003,  # destination unreachable
    13: 30004,  # subscriber age restriction
    14: 30004,  # number blocked by carrier
    15: 30008,  # recipient's prepaid credit insufficient
    16: 30008,  # gateway quota exceeded (named only)
    50: 30007,  # entity filter
    51: 30007,  # header filter
    52: 30007,  # content filter
    53: 30007,  # consent filter
    54: 30008,  # regulation error (named only)
    99: 30008,  # general error
}

#: /sms/json `messages[].status` (the send's own error) → Twilio code; 1 and 5 are retried instead.
SEND_ERRORS: dict[int, int] = {
    2: 30008,  # missing parameters
    3: 21211,  # invalid parameters: the destination is the one value the gateway has not checked itself
    4: 20003,  # invalid credentials
    6: 21211,  # invalid message: an unrecognised number prefix
    7: 30004,  # number barred
    8: 30002,  # partner account barred
    9: 30002,  # partner quota violation
    10: 30008,  # too many existing binds
    11: 20003,  # account not enabled for HTTP
    12: 21617,  # message too long
    14: 20003,  # invalid signature
    15: 21606,  # invalid sender address
    22: 30008,  # invalid network code
    23: 21609,  # invalid callback URL
    29: 21608,  # non-whitelisted destination (trial account)
    32: 20003,  # signature and API secret disallowed
    33: 30005,  # number de-activated
}


def signature(params: Iterable[tuple[str, str]], secret: str, method: str) -> str:
    """`sig` over every field but `sig` (module docstring), lower-case hex."""
    signed = "".join(
        f"&{name}={value.replace('&', '_').replace('=', '_')}"
        for name, value in sorted((n, v) for n, v in params if n != "sig")
    )
    if method == "md5hash":
        return hashlib.md5((signed + secret).encode("utf-8")).hexdigest()
    if method not in METHODS:
        raise WebhookRejected(f"unknown Vonage signature method {method!r}")
    return hmac.new(secret.encode("utf-8"), signed.encode("utf-8"), method).hexdigest()


@dataclass(frozen=True)
class VonageProvider:
    name: str = "vonage"
    #: Vonage appends its fields to the callback URL's query and signs only its own, so the gateway's
    #: `?ref=` would be an unsigned field; the signed `client-ref` (our sid) takes its place.
    reference_in_callback: bool = False
    method: str = "md5hash"  # GATEWAY_VONAGE_SIGNATURE_METHOD; the app builds the adapter with it
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def verify(self, raw: RawRequest, secret: str) -> None:
        """Accept a request whose `sig` matches its fields and whose signed `timestamp` is recent."""
        if not secret:
            raise WebhookRejected("no signature secret is configured to check Vonage's sig")
        fields = dict(raw.form)
        given = fields.get("sig")
        if not given:
            raise WebhookRejected("missing sig")
        expected = signature(raw.form, secret, self.method)
        if not hmac.compare_digest(expected.encode("ascii"), given.lower().encode("utf-8", "replace")):
            raise WebhookRejected("sig does not match")
        try:
            sent_at = float(fields.get("timestamp", ""))
        except ValueError:
            raise WebhookRejected("no signed timestamp") from None
        check_fresh(sent_at, self.clock(), what=f"timestamp {fields['timestamp']}")

    def parse_inbound(self, raw: RawRequest) -> list[InboundMessage]:
        """`messageId`, `msisdn` (the person), `to`, `text`; the concat-* fields become a `Part`."""
        fields = dict(raw.form)
        sid, sender, to = fields.get("messageId"), fields.get("msisdn"), fields.get("to")
        if not sid or not sender or not to:
            raise MalformedWebhook("inbound webhook without messageId, msisdn or to")
        part = None
        if fields.get("concat") == "true" or "concat-ref" in fields:
            try:
                part = Part(
                    ref=fields["concat-ref"], number=int(fields["concat-part"]), total=int(fields["concat-total"])
                )
            except (KeyError, ValueError):
                raise MalformedWebhook("concat without a readable concat-ref, concat-part and concat-total") from None
            if not 1 <= part.number <= part.total <= 255:
                raise MalformedWebhook(f"concat-part {part.number} of {part.total} is impossible")
        text = fields.get("text", "")
        kept = twilio_fields(e164(sender), e164(to), text) + [(f"vonage.{k}", v) for k, v in raw.form]
        return [
            InboundMessage(
                provider_sid=sid, sender=e164(sender), to=e164(to), body=text, media_urls=(), raw=tuple(kept), part=part
            )
        ]

    def parse_status(self, raw: RawRequest) -> list[StatusEvent]:
        """One receipt: `status` through STATUS, a non-zero `err-code` through RECEIPT_ERRORS."""
        fields = dict(raw.form)
        sid, word = fields.get("messageId"), fields.get("status")
        if not sid or word is None:
            raise MalformedWebhook("delivery receipt without messageId or status")
        status = status_of(STATUS, word, provider=self.name, about=sid)
        code = fields.get("err-code") or ""
        error = None
        if code.isdigit() and int(code) and status is not Status.DELIVERED:
            error = map_code(RECEIPT_ERRORS, int(code), provider=self.name)
        return [
            StatusEvent(
                provider_sid=sid,
                status=status,
                error_code=error,
                raw=fields,
                reference=fields.get("client-ref") or None,
            )
        ]

    def build_send(self, message: OutboundMessage, credentials: Credentials) -> httpx2.Request:
        """POST /sms/json, form-encoded; numbers without "+"; `client-ref` is the gateway's sid."""
        fields = [
            ("api_key", credentials.account_sid),
            ("api_secret", credentials.auth_token),
            ("from", message.sender.removeprefix("+")),
            ("to", message.to.removeprefix("+")),
            ("text", message.body),
            ("type", "text" if set(message.body) <= GSM7_ALL else "unicode"),
            ("client-ref", message.sid),
        ]
        if message.status_callback is not None:
            fields.append(("callback", message.status_callback))
        if message.validity_period is not None:
            fields.append(("ttl", str(message.validity_period * 1000)))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        return httpx2.Request(
            "POST",
            f"{credentials.base_url.rstrip('/')}/sms/json",
            headers=headers,
            content=urlencode(fields).encode("ascii"),
        )

    def read_send(self, response: httpx2.Response) -> SendResult:
        """Vonage answers 200 even for errors: `messages[0].status` "0" is success, "1" throttled,
        "5" an internal error (both retried), others map through SEND_ERRORS."""
        status = response.status_code
        raise_if_transient(response, self.name, response.reason_phrase or str(status))
        payload = response_json(response)
        messages = payload.get("messages")
        first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], dict) else {}
        if not 200 <= status < 300:
            raise Rejected(status, f"vonage {status}: {first.get('error-text') or response.reason_phrase}")
        code, text = str(first.get("status", "")), str(first.get("error-text") or "")
        if code == "0":
            sid = first.get("message-id")
            if not isinstance(sid, str) or not sid:
                raise Retryable("vonage answered 0 without a message-id")
            return SendResult(provider_sid=sid, status=Status.SENT)
        if code == "1":
            raise Throttled(
                f"vonage throttled: {text}",
                parse_retry_after(response.headers.get("retry-after"), server_now(response)),
            )
        if code in ("", "5"):
            raise Retryable(f"vonage status {code or 'missing'}: {text}")
        raise Rejected(
            map_code(SEND_ERRORS, int(code) if code.isdigit() else 0, provider=self.name), f"vonage {code}: {text}"
        )


@dataclass(frozen=True)
class VonageSettings:
    vonage_api_key: str = setting("", send=True)
    vonage_api_secret: str = setting("", send=True, secret=True)
    vonage_signature_secret: str = setting("", verify=True, secret=True)
    vonage_signature_method: str = setting("md5hash", choices=METHODS)  # as chosen in Vonage's dashboard
    vonage_base_url: str = setting("https://rest.nexmo.com", url=True)
    vonage_concat_wait: float = setting(60.0)  # seconds the parts of a long inbound message are awaited


def _credentials(settings: VonageSettings) -> Credentials:
    return Credentials(settings.vonage_api_key, settings.vonage_api_secret, settings.vonage_base_url)


PROVIDER = VonageProvider()
MODULE = ProviderModule(
    PROVIDER,
    _credentials,
    VonageSettings,
    configure=lambda settings: replace(PROVIDER, method=settings.vonage_signature_method),
    reassembly_wait=lambda settings: settings.vonage_concat_wait,
    sends_media=False,  # /sms/json takes text or binary only; MMS is the Messages API's
)
