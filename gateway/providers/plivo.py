"""Plivo's Messaging API: inbound and status webhooks in, the Message API out.

Docs: https://www.plivo.com/docs/messaging/api/message/handling-incoming (inbound),
https://www.plivo.com/docs/messaging/api/message/message-status-callbacks (status),
https://www.plivo.com/docs/messaging/concepts/signature-validation (X-Plivo-Signature-V3),
https://www.plivo.com/docs/messaging/api/message/send-a-message (sending),
https://www.plivo.com/docs/messaging/troubleshooting/error-codes (error codes).

An inbound message as Plivo posts it to the application's message_url (ids shortened)::

    POST /webhooks/plivo/inbound HTTP/1.1
    Content-Type: application/x-www-form-urlencoded
    X-Plivo-Signature-V3: <44 base64 characters>[,<another, one per active token>]
    X-Plivo-Signature-V3-Nonce: 05429567804466091622

    From=33612345678&To=14155550100&Text=STOP&Type=sms&MessageUUID=3c4e…&Units=1
    &TotalRate=0&TotalAmount=0&MessageIntent=optout&PowerpackUUID=&MediaCount=0

Numbers arrive without their "+"; we add it. Plivo joins long inbound messages itself.
`MessageIntent` (optout | optin | help) is Plivo's own reading of the keywords: it stays in `raw`
and never replaces the gateway's policy. Status callbacks carry `Sequence`, Plivo's order of the
reports of one message; the lifecycle already refuses to move a message backwards, so a late
`sent` after `delivered` changes nothing, and `Sequence` is kept in `raw` for the audit.

Signature V3 (plivo-python's `signature_v3.py`): the URL without its query, then "?" and the
query's fields sorted as `k=v` joined by "&" (a "." after them when the body has fields), then
the body's fields sorted and concatenated as `kv`, then "." and the nonce; HMAC-SHA256 keyed
with the auth token, base64. The header may hold several comma-separated signatures (one per
active token); one match is enough. Plivo has no idempotency key for sends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

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
    e164,
    map_code,
    parse_form,
    raise_if_transient,
    response_json,
    status_of,
    twilio_fields,
)
from gateway.providers.module import ProviderModule, setting

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-plivo-signature-v3"
NONCE_HEADER = "x-plivo-signature-v3-nonce"

#: Plivo's `Status` words for outbound messages.
STATUS: dict[str, Status] = {
    "queued": Status.QUEUED,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
    "rejected": Status.FAILED,  # listed in older docs
    "read": Status.READ,
}

#: Plivo's message error codes → the Twilio code an app written for Twilio already handles. Each
#: row, its meaning and its source: docs/provider-error-codes.md (a test holds the two equal);
#: codes whose meaning Plivo does not publish are not guessed: they are recorded as 30008.
ERRORS: dict[int, int] = {
    10: 30007,  # invalid message, rejected by the carrier
    20: 30008,  # network error
    30: 30007,  # spam detected
    40: 21606,  # invalid source number
    50: 21211,  # invalid destination number
    60: 30007,  # loop detected
    70: 30005,  # destination permanently unavailable
    80: 30003,  # destination temporarily unavailable
    90: 30006,  # no route available
    100: 30007,  # prohibited by carrier
    110: 21617,  # message too long
    200: 21610,  # source number blocked by STOP from the destination
    201: 21408,  # US toll-free to a Canadian destination is blocked
    450: 21408,  # destination country barred (Geo Permissions)
    900: 30002,  # insufficient credit
    1000: 30008,  # unknown error
}


def signed_text(url: str, body_fields: Iterable[tuple[str, str]], nonce: str) -> str:
    """What Signature V3 signs: URL, sorted query, sorted body fields, nonce (module docstring)."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query: defaultdict[str, list[str]] = defaultdict(list)
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name].append(value)
    body: defaultdict[str, list[str]] = defaultdict(list)
    for name, value in body_fields:
        body[name].append(value)
    sorted_query = "&".join(f"{name}={value}" for name in sorted(query) for value in sorted(query[name]))
    if sorted_query or body:
        base += "?" + sorted_query
    if sorted_query and body:
        base += "."
    base += "".join(f"{name}{value}" for name in sorted(body) for value in sorted(body[name]))
    return f"{base}.{nonce}"


def compute_signature(url: str, body_fields: Iterable[tuple[str, str]], nonce: str, token: str) -> str:
    digest = hmac.new(token.encode("utf-8"), signed_text(url, body_fields, nonce).encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("ascii")


@dataclass(frozen=True)
class PlivoProvider:
    name: str = "plivo"
    reference_in_callback: bool = True

    def verify(self, raw: RawRequest, secret: str) -> None:
        """Accept a request one of whose X-Plivo-Signature-V3 values matches URL, fields and nonce."""
        if not secret:
            raise WebhookRejected("no auth token is configured to check X-Plivo-Signature-V3")
        given, nonce = raw.headers.get(SIGNATURE_HEADER), raw.headers.get(NONCE_HEADER)
        if not given or not nonce:
            raise WebhookRejected("missing X-Plivo-Signature-V3 or its nonce")
        expected = compute_signature(raw.public_url, parse_form(raw.body), nonce, secret).encode("ascii")
        if not any(hmac.compare_digest(expected, one.strip().encode("utf-8")) for one in given.split(",")):
            raise WebhookRejected("X-Plivo-Signature-V3 does not match")

    def parse_inbound(self, raw: RawRequest) -> list[InboundMessage]:
        """`MessageUUID`, `From`, `To`, `Text` (`Body` for MMS and WhatsApp), `MediaCount`, `Media1`…; all
        kept in `raw`.  Plivo states no media item's Content-Type: the app gets `MediaContentType{N}` empty."""
        fields = dict(raw.form)
        sid, sender, to = fields.get("MessageUUID"), fields.get("From"), fields.get("To")
        if not sid or not sender or not to:
            raise MalformedWebhook("inbound webhook without MessageUUID, From or To")
        try:
            count = int(fields.get("MediaCount") or 0)
        except ValueError:
            raise MalformedWebhook("MediaCount is not a number") from None
        # Plivo's reference numbers the items from 1 (`Media1`…), its support article from 0: either reads.
        media = tuple(fields[f"Media{i}"] for i in range(count + 1) if f"Media{i}" in fields)[:count]
        body = fields.get("Text") or fields.get("Body") or ""
        kept = twilio_fields(e164(sender), e164(to), body, media) + [(f"plivo.{k}", v) for k, v in raw.form]
        return [
            InboundMessage(
                provider_sid=sid, sender=e164(sender), to=e164(to), body=body, media_urls=media, raw=tuple(kept)
            )
        ]

    def parse_status(self, raw: RawRequest) -> list[StatusEvent]:
        """One event per callback: `Status` through STATUS, `ErrorCode` through ERRORS."""
        fields = dict(raw.form)
        sid, word = fields.get("MessageUUID"), fields.get("Status")
        if not sid or word is None:
            raise MalformedWebhook("status callback without MessageUUID or Status")
        status = status_of(STATUS, word, provider=self.name, about=sid)
        code = fields.get("ErrorCode") or ""
        error = map_code(ERRORS, int(code), provider=self.name) if code.isdigit() and int(code) else None
        return [StatusEvent(provider_sid=sid, status=status, error_code=error, raw=fields)]

    def build_send(self, message: OutboundMessage, credentials: Credentials) -> httpx2.Request:
        """POST /v1/Account/{auth_id}/Message/ as JSON with basic auth; the status callback is `url`."""
        payload: dict[str, object] = {"src": message.sender, "dst": message.to, "text": message.body}
        if message.media_urls:
            payload |= {"type": "mms", "media_urls": list(message.media_urls)}
        if message.status_callback is not None:
            payload |= {"url": message.status_callback, "method": "POST"}
        account = quote(credentials.account_sid, safe="")
        headers = {
            "Authorization": basic_auth(credentials),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        return httpx2.Request(
            "POST",
            f"{credentials.base_url.rstrip('/')}/v1/Account/{account}/Message/",
            headers=headers,
            content=json.dumps(payload).encode("utf-8"),
        )

    def read_send(self, response: httpx2.Response) -> SendResult:
        """202 → the first `message_uuid`, queued; 429 → Throttled; 5xx → Retryable; other → Rejected."""
        status = response.status_code
        payload = response_json(response)
        if 200 <= status < 300:
            uuids = payload.get("message_uuid")
            if not isinstance(uuids, list) or not uuids or not isinstance(uuids[0], str):
                raise Retryable(f"plivo answered {status} without a message_uuid")
            return SendResult(provider_sid=uuids[0], status=Status.QUEUED)
        text = str(payload.get("error") or response.reason_phrase or status)
        raise_if_transient(response, self.name, text)
        raise Rejected(_rejection_code(status, text), f"plivo: {text}")


def _rejection_code(status: int, text: str) -> int:
    """The Message API answers 400 with only a sentence; the invalid-destination one names `dst`."""
    if status == 400 and "dst" in text.lower():
        return ERRORS[50]
    return status


@dataclass(frozen=True)
class PlivoSettings:
    plivo_auth_id: str = setting("", send=True)
    plivo_auth_token: str = setting("", send=True, verify=True, secret=True)
    plivo_base_url: str = setting("https://api.plivo.com", url=True)


def _credentials(settings: PlivoSettings) -> Credentials:
    return Credentials(settings.plivo_auth_id, settings.plivo_auth_token, settings.plivo_base_url)


PROVIDER = PlivoProvider()
MODULE = ProviderModule(PROVIDER, _credentials, PlivoSettings)
