"""Twilio's Programmable Messaging: status callbacks in, Messages API out.

Docs: https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
(callbacks), https://www.twilio.com/docs/usage/webhooks/webhooks-security (signatures),
https://www.twilio.com/docs/messaging/api/message-resource (sending).

A status callback as Twilio sends it (captured; sids and numbers shortened, signature elided)::

    POST /twilio/status HTTP/1.1
    Content-Type: application/x-www-form-urlencoded; charset=utf-8
    User-Agent: TwilioProxy/1.1
    X-Twilio-Signature: <28 base64 characters>

    RawDlrDoneDate=2303222338&SmsSid=SMyyy&SmsStatus=delivered&MessageStatus=delivered
    &To=%2B11111111111&MessageSid=SMyyy&AccountSid=ACzzz&From=%2B12223334444&ApiVersion=2010-04-01

`ErrorCode` is added only for `failed` and `undelivered`; no callback is sent for the initial
status; callbacks may arrive out of order. Twilio adds fields without notice, so the signature
covers whatever arrived, and parsing ignores what it does not know.

Signatures (HMAC-SHA1 keyed with the auth token, base64) cover the URL exactly as Twilio called
it, then every form field. Twilio is inconsistent about ports in the URL it signs, so, like
twilio-python's `RequestValidator.validate`, we accept the URL as given, without its port, and
with the scheme's default port added. The URL must be the public one Twilio saw (a proxy that
terminates TLS or rewrites paths changes it): the edge builds `public_url` from settings.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import httpx2

from gateway.providers.base import (
    Credentials,
    InboundMessage,
    MalformedWebhook,
    OutboundMessage,
    RawRequest,
    Rejected,
    Retryable,
    SendResult,
    Status,
    StatusEvent,
    WebhookRejected,
    basic_auth,
    raise_if_transient,
    response_json,
    status_of,
)
from gateway.providers.module import ProviderModule, setting

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-twilio-signature"
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
#: A send's answer saying the destination's carrier takes no short codes: 21612, "The 'To' phone
#: number is not currently reachable using the 'From' phone number via SMS"
#: (https://www.twilio.com/docs/api/errors/21612).  From a short code it is Short Code Reroute's
#: cue; 30006 (landline or unreachable carrier) comes later, in a status report, and is never rerouted.
SHORT_CODE_REFUSED = frozenset({21612})

#: Twilio's `MessageStatus` words (https://www.twilio.com/docs/messaging/api/message-resource#message-status-values).
#: `receiving` and the deprecated `partially_delivered` are left out on purpose: neither describes
#: an outbound message we track, so they arrive as UNKNOWN and are logged.
STATUS: dict[str, Status] = {
    "accepted": Status.ACCEPTED,
    "scheduled": Status.SCHEDULED,
    "queued": Status.QUEUED,
    "sending": Status.SENDING,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
    "canceled": Status.CANCELED,
    "read": Status.READ,
    "received": Status.RECEIVED,
}

_DEFAULT_PORTS = {"https": 443, "http": 80}


def compute_signature(url: str, params: Iterable[tuple[str, str]] | Mapping[str, str], token: str) -> str:
    """Twilio's X-Twilio-Signature: HMAC-SHA1(token, url + name+value...), base64.

    Names in code-point order; a repeated name contributes each distinct value, sorted, as both
    official SDKs do. The URL is used byte for byte (scheme, host, port, path, query).
    """
    return _sign(url + signed_fields(params.items() if isinstance(params, Mapping) else params), token)


def signed_fields(pairs: Iterable[tuple[str, str]]) -> str:
    """What the signature covers after the URL: the distinct (name, value) pairs in order (by name,
    then value), concatenated.  The same for every URL variant, so `verify` builds it once."""
    return "".join(name + value for name, value in sorted(set(pairs)))


def _sign(text: str, token: str) -> str:
    return base64.b64encode(hmac.digest(token.encode("utf-8"), text.encode("utf-8"), "sha1")).decode("ascii")


@functools.lru_cache(maxsize=64)
def url_variants(url: str) -> tuple[str, ...]:
    """The URL as given, without its port, and with the scheme's default port (twilio-python's rule).
    Kept per URL: an inbound webhook's URL is the same on every request."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: only the URL as given can match
        return (url,)
    if port is not None:
        bare = parts.netloc.rsplit(":", 1)[0]
        return url, urlunsplit(parts._replace(netloc=bare))
    default = _DEFAULT_PORTS.get(parts.scheme)
    if default is None:
        return (url,)
    return url, urlunsplit(parts._replace(netloc=f"{parts.netloc}:{default}"))


@dataclass(frozen=True)
class TwilioProvider:
    """Twilio's wire format; other services speaking it (the simulator) reuse it under their own name."""

    name: str = "twilio"
    reference_in_callback: bool = True  # status callbacks carry ?ref= (covered by the signature)

    def verify(self, raw: RawRequest, secret: str) -> None:
        """Accept only a request whose X-Twilio-Signature matches one of the URL's port variants."""
        if not secret:  # an HMAC with an empty key is a signature anyone can compute
            raise WebhookRejected("no auth token is configured to check X-Twilio-Signature")
        signature = raw.headers.get(SIGNATURE_HEADER)
        if not signature:
            raise WebhookRejected("missing X-Twilio-Signature")
        fields = ""
        query = parse_qs(urlsplit(raw.public_url).query) if "bodySHA256" in raw.public_url else {}
        if "bodySHA256" in query:
            # JSON-bodied webhooks: the URL carries the body's hash and is signed alone.
            expected_hash = hashlib.sha256(raw.body).hexdigest()
            if not hmac.compare_digest(expected_hash.encode(), query["bodySHA256"][0].encode()):
                raise WebhookRejected("bodySHA256 does not match the body")
        else:
            fields = signed_fields(raw.form)
        given = signature.encode("utf-8")
        for url in url_variants(raw.public_url):
            if hmac.compare_digest(_sign(url + fields, secret).encode("ascii"), given):
                return
        raise WebhookRejected("X-Twilio-Signature does not match")

    def parse_status(self, raw: RawRequest) -> list[StatusEvent]:
        """One event per callback; an unknown status word becomes UNKNOWN and is logged."""
        fields = dict(raw.form)
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        word = fields.get("MessageStatus") or fields.get("SmsStatus")
        if not sid or word is None:
            raise MalformedWebhook("status callback without MessageSid or MessageStatus")
        status = status_of(STATUS, word, provider=self.name, about=sid)
        return [StatusEvent(provider_sid=sid, status=status, error_code=_error_code(fields), raw=fields)]

    def parse_inbound(self, raw: RawRequest) -> list[InboundMessage]:
        """Twilio's inbound-message webhook (https://www.twilio.com/docs/messaging/guides/webhook-request):
        `MessageSid`, `From`, `To`, `Body`, `NumMedia`, `MediaUrl0`, `MediaContentType0`…; every other field
        is kept in `raw`."""
        fields = dict(raw.form)
        sid = fields.get("MessageSid") or fields.get("SmsMessageSid") or fields.get("SmsSid")
        if not sid or not fields.get("From") or not fields.get("To"):
            raise MalformedWebhook("inbound webhook without MessageSid, From or To")
        try:
            count = int(fields.get("NumMedia") or 0)
        except ValueError:
            raise MalformedWebhook("NumMedia is not a number") from None
        present = [i for i in range(count) if f"MediaUrl{i}" in fields]
        media = tuple(fields[f"MediaUrl{i}"] for i in present)
        types = tuple(fields.get(f"MediaContentType{i}") or None for i in present)
        return [
            InboundMessage(
                provider_sid=sid,
                sender=fields["From"],
                to=fields["To"],
                body=fields.get("Body", ""),
                media_urls=media,
                media_types=types,
                raw=raw.form,
            )
        ]

    def build_send(self, message: OutboundMessage, credentials: Credentials) -> httpx2.Request:
        """POST Messages.json, form-encoded in the SDK's field names; the gateway's sid is the idempotency
        token, so a retry after a crash cannot deliver twice where Twilio honours it."""
        fields: list[tuple[str, str]] = [("To", message.to), ("From", message.sender), ("Body", message.body)]
        fields += [("MediaUrl", url) for url in message.media_urls]
        if message.status_callback is not None:
            fields.append(("StatusCallback", message.status_callback))
        if message.validity_period is not None:
            fields.append(("ValidityPeriod", str(message.validity_period)))
        account = quote(credentials.account_sid, safe="")
        url = f"{credentials.base_url.rstrip('/')}/2010-04-01/Accounts/{account}/Messages.json"
        headers = {
            "Authorization": basic_auth(credentials),
            "Accept": "application/json",
            "Content-Type": "application/x-www-form-urlencoded",
            IDEMPOTENCY_HEADER: message.sid,
        }
        return httpx2.Request("POST", url, headers=headers, content=urlencode(fields).encode("ascii"))

    def read_send(self, response: httpx2.Response) -> SendResult:
        """2xx → the message's sid and status; 429 → Throttled; 5xx → Retryable; other → Rejected."""
        status = response.status_code
        if 200 <= status < 300:
            payload = response_json(response)
            sid = payload.get("sid")
            if not isinstance(sid, str) or not sid:
                # Accepted but unreadable: retrying under the same idempotency token is the safe move.
                raise Retryable(f"twilio answered {status} without a message sid")
            word = str(payload.get("status", ""))
            return SendResult(
                provider_sid=sid, status=status_of(STATUS, word, provider=self.name, about=f"new message {sid}")
            )
        raise_if_transient(response, self.name, _message(response))
        code = response_json(response).get("code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else status
        raise Rejected(code, _message(response), short_code_refused=code in SHORT_CODE_REFUSED)


def _error_code(fields: Mapping[str, str]) -> int | None:
    value = fields.get("ErrorCode")
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        log.warning("twilio: non-numeric ErrorCode %r", value)
        return None


def _message(response: httpx2.Response) -> str:
    message = response_json(response).get("message")
    return message if isinstance(message, str) and message else response.reason_phrase or str(response.status_code)


@dataclass(frozen=True)
class TwilioSettings:
    twilio_account_sid: str = setting("", send=True)
    twilio_auth_token: str = setting("", send=True, verify=True, secret=True)
    twilio_base_url: str = setting("https://api.twilio.com", url=True)


def _credentials(settings: TwilioSettings) -> Credentials:
    return Credentials(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_base_url)


PROVIDER = TwilioProvider()
MODULE = ProviderModule(PROVIDER, _credentials, TwilioSettings)
