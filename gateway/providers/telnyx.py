"""Telnyx Messaging (API v2): JSON webhooks in, POST /v2/messages out.

Docs: https://developers.telnyx.com/api-reference/callbacks/inbound-message (envelope),
https://developers.telnyx.com/docs/messaging/messages/receiving-webhooks (events, retries),
https://developers.telnyx.com/docs/development/sdk/python/webhooks (Ed25519 signatures),
https://developers.telnyx.com/api-reference/messages/send-a-message (sending),
https://developers.telnyx.com/docs/messaging/messages/error-codes (error codes).

An inbound message as Telnyx posts it (ids shortened, most payload fields left out)::

    POST /webhooks/telnyx/inbound HTTP/1.1
    Content-Type: application/json
    telnyx-signature-ed25519: <88 base64 characters: a 64-byte signature>
    telnyx-timestamp: 1764610000

    {"data": {"event_type": "message.received", "id": "b301…", "occurred_at": "2026-12-01T17:26:40Z",
     "record_type": "event", "payload": {"id": "84cc…", "direction": "inbound", "type": "SMS",
     "from": {"phone_number": "+33612345678", "carrier": "Orange", "line_type": "Wireless"},
     "to": [{"phone_number": "+12015550124", "status": "webhook_delivered"}], "text": "STOP",
     "media": [], "autoresponse_type": "stop"}}, "meta": {"attempt": 1, "delivered_to": "…"}}

Status reports are `message.sent` and `message.finalized` with the same payload, the status in
`to[0].status` and failures in `errors[].code`. Telnyx signs `"{telnyx-timestamp}|{raw body}"`
with Ed25519; we check it with the account's public key (base64, from the portal) and refuse a
timestamp more than 300 s away from our clock, as the SDKs do, so a captured webhook cannot be
replayed later. `autoresponse_type` is Telnyx's own keyword reading: kept in `raw`, never obeyed.
Telnyx has no idempotency key for sends.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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
    check_fresh,
    map_code,
    raise_if_transient,
    response_json,
    status_of,
    twilio_fields,
)
from gateway.providers.module import ProviderModule, setting

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"

#: Telnyx's per-recipient `status` words.
STATUS: dict[str, Status] = {
    "queued": Status.QUEUED,
    "sending": Status.SENDING,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "delivery_unconfirmed": Status.SENT,  # handed to the carrier, no receipt will come
    "sending_failed": Status.FAILED,
    "delivery_failed": Status.UNDELIVERED,
}

#: Telnyx's messaging error codes → the Twilio code an app written for Twilio already handles.
#: Each row, its meaning and its source: docs/provider-error-codes.md (a test holds the two equal).
ERRORS: dict[int, int] = {
    40001: 30006,  # not routable: a landline or non-routable number
    40002: 30007,  # blocked as spam, temporary
    40003: 30007,  # blocked as spam, permanent
    40004: 30008,  # rejected by destination for an unknown reason
    40005: 30036,  # message expired during transmission
    40006: 30003,  # recipient (carrier) server unavailable
    40007: 30007,  # loop detected
    40008: 30008,  # undeliverable, general purpose
    40009: 30007,  # invalid message body
    40010: 30034,  # unregistered 10DLC message
    40011: 30022,  # too many requests upstream
    40012: 21211,  # invalid destination number
    40013: 21606,  # invalid source number
    40014: 30036,  # expired in queue
    40015: 30007,  # blocked as spam by Telnyx's internal filter
    40016: 30027,  # T-Mobile 10DLC daily sending limit
    40017: 30007,  # AT&T 10DLC spam rejection
    40018: 30022,  # AT&T 10DLC sending limit per minute
    40100: 21606,  # number not messaging enabled
    40150: 21606,  # toll-free number not in the registry
    40151: 21606,  # messaging enablement pending with another provider
    40300: 21610,  # blocked due to STOP
    40301: 21612,  # message type unsupported for the 'to' address
    40302: 21617,  # message too large
    40304: 21602,  # invalid combination of message content arguments
    40305: 21606,  # invalid 'from' address
    40306: 21212,  # alpha sender not configured
    40308: 21621,  # invalid 'from' address for MMS
    40309: 21408,  # destination region not whitelisted
    40310: 21211,  # invalid 'to' address
    40311: 20003,  # invalid messaging profile secret
    40312: 21606,  # messaging profile disabled
    40313: 20003,  # missing messaging profile secret
    40314: 30002,  # messaging disabled on the account
    40315: 30007,  # unhealthy 'from' address (low deliverability, high spam)
    40316: 21602,  # no content
    40317: 30019,  # invalid MMS content (over 10 URLs or 1 MB)
    40318: 30001,  # message queue full
    40319: 21612,  # incompatible message type for the 'to' address
    40320: 21606,  # 'from' address temporarily unusable (purchase pending)
    40321: 21703,  # no usable numbers on the messaging profile
    40322: 30007,  # blocked due to content
    40328: 21617,  # SMS exceeds the recommended size
    40329: 30032,  # toll-free number not yet verified
}


def public_key(secret: str) -> Ed25519PublicKey:
    """The account's public key as the portal shows it: base64 of the 32 raw bytes."""
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(secret, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise WebhookRejected(f"GATEWAY_TELNYX_PUBLIC_KEY is not a base64 Ed25519 public key ({exc})") from None


@dataclass(frozen=True)
class TelnyxProvider:
    name: str = "telnyx"
    reference_in_callback: bool = True
    clock: Callable[[], float] = field(default=time.time, compare=False)  # tests pass a fixed one

    def verify(self, raw: RawRequest, secret: str) -> None:
        """Accept a body whose Ed25519 signature over "timestamp|body" holds and whose timestamp is recent."""
        if not secret:
            raise WebhookRejected("no public key is configured to check telnyx-signature-ed25519")
        signature, stamp = raw.headers.get(SIGNATURE_HEADER), raw.headers.get(TIMESTAMP_HEADER)
        if not signature or not stamp:
            raise WebhookRejected("missing telnyx-signature-ed25519 or telnyx-timestamp")
        try:
            sent_at = int(stamp)
            decoded = base64.b64decode(signature, validate=True)
        except (ValueError, binascii.Error):
            raise WebhookRejected("unreadable telnyx-timestamp or signature") from None
        check_fresh(sent_at, self.clock(), what=f"telnyx-timestamp {stamp}")
        try:
            public_key(secret).verify(decoded, stamp.encode("ascii") + b"|" + raw.body)
        except InvalidSignature:
            raise WebhookRejected("telnyx-signature-ed25519 does not match") from None

    def parse_inbound(self, raw: RawRequest) -> list[InboundMessage]:
        """`message.received`: payload `id`, `from.phone_number`, `to[0].phone_number`, `text`, `media[]`
        (`url`, `content_type`); any other event is ignored (no message)."""
        event, payload = _event(raw)
        if event != "message.received":
            # A messaging profile sends all its events to its one webhook URL; outbound messages name
            # their own (`webhook_url`), so only stray events land here. Answered 200, not retried.
            log.info("telnyx: %s on the inbound webhook ignored", event)
            return []
        sid = payload.get("id")
        sender = _dict(payload.get("from")).get("phone_number")
        recipients = payload.get("to")
        to = _dict(recipients[0]).get("phone_number") if isinstance(recipients, list) and recipients else None
        if not isinstance(sid, str) or not isinstance(sender, str) or not isinstance(to, str) or not sid:
            raise MalformedWebhook("message.received without id, from or to")
        items = [_dict(item) for item in payload.get("media") or []]
        items = [item for item in items if isinstance(item.get("url"), str)]
        media = tuple(str(item["url"]) for item in items)
        types = tuple(kind if isinstance(kind := item.get("content_type"), str) and kind else None for item in items)
        text = payload.get("text")
        text = text if isinstance(text, str) else ""
        kept = twilio_fields(sender, to, text, media, types) + [
            ("telnyx.event_type", event),
            ("telnyx.autoresponse_type", str(payload.get("autoresponse_type") or "")),
            ("telnyx.body", raw.body.decode("utf-8", errors="replace")),
        ]
        return [
            InboundMessage(
                provider_sid=sid, sender=sender, to=to, body=text, media_urls=media, media_types=types, raw=tuple(kept)
            )
        ]

    def parse_status(self, raw: RawRequest) -> list[StatusEvent]:
        """`message.sent` / `message.finalized`: one event, the first recipient's status, the first error."""
        event, payload = _event(raw)
        sid = payload.get("id")
        if not isinstance(sid, str) or not sid:
            raise MalformedWebhook("status webhook without payload id")
        recipients = payload.get("to")
        word = str(_dict(recipients[0]).get("status") or "") if isinstance(recipients, list) and recipients else ""
        status = status_of(STATUS, word, provider=self.name, about=f"{sid} ({event})")
        errors = payload.get("errors")
        code = _code(_dict(errors[0]).get("code")) if isinstance(errors, list) and errors else None
        error = None if code is None else map_code(ERRORS, code, provider=self.name)
        return [
            StatusEvent(
                provider_sid=sid,
                status=status,
                error_code=error,
                raw={"event_type": event, "status": word, "body": raw.body.decode("utf-8", "replace")},
            )
        ]

    def build_send(self, message: OutboundMessage, credentials: Credentials) -> httpx2.Request:
        """POST /v2/messages as JSON with the API key as bearer token; the status callback is `webhook_url`."""
        payload: dict[str, object] = {"from": message.sender, "to": message.to, "text": message.body}
        if message.media_urls:
            payload["media_urls"] = list(message.media_urls)
        if message.status_callback is not None:
            payload["webhook_url"] = message.status_callback
        if message.validity_period is not None:
            payload["validity_period_secs"] = message.validity_period
        headers = {
            "Authorization": f"Bearer {credentials.auth_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        return httpx2.Request(
            "POST",
            f"{credentials.base_url.rstrip('/')}/v2/messages",
            headers=headers,
            content=json.dumps(payload).encode("utf-8"),
        )

    def read_send(self, response: httpx2.Response) -> SendResult:
        """2xx → `data.id` and its status; 429 → Throttled; 5xx → Retryable; other → Rejected, mapped."""
        status = response.status_code
        body = response_json(response)
        if 200 <= status < 300:
            data = _dict(body.get("data"))
            sid = data.get("id")
            if not isinstance(sid, str) or not sid:
                raise Retryable(f"telnyx answered {status} without data.id")
            recipients = data.get("to")
            word = str(_dict(recipients[0]).get("status") or "") if isinstance(recipients, list) and recipients else ""
            return SendResult(provider_sid=sid, status=STATUS.get(word, Status.QUEUED))
        errors = body.get("errors")
        first = _dict(errors[0]) if isinstance(errors, list) and errors else {}
        text = str(first.get("detail") or first.get("title") or response.reason_phrase or status)
        raise_if_transient(response, self.name, text)
        code = _code(first.get("code"))
        raise Rejected(
            status if code is None else map_code(ERRORS, code, provider=self.name), f"telnyx {code or status}: {text}"
        )


def _event(raw: RawRequest) -> tuple[str, Mapping[str, Any]]:
    try:
        envelope = json.loads(raw.body)
    except ValueError:
        raise MalformedWebhook("body is not JSON") from None
    data = _dict(envelope.get("data") if isinstance(envelope, dict) else None)
    event, payload = data.get("event_type"), data.get("payload")
    if not isinstance(event, str) or not isinstance(payload, dict):
        raise MalformedWebhook("no data.event_type or data.payload")
    return event, payload


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _code(value: object) -> int | None:
    """Telnyx writes codes as strings ("40310")."""
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() else None


@dataclass(frozen=True)
class TelnyxSettings:
    telnyx_api_key: str = setting("", send=True, secret=True)
    telnyx_public_key: str = setting("", verify=True)  # base64 Ed25519 key from the Mission Control portal
    telnyx_base_url: str = setting("https://api.telnyx.com", url=True)


def _credentials(settings: TelnyxSettings) -> Credentials:
    return Credentials("", settings.telnyx_api_key, settings.telnyx_base_url)


PROVIDER = TelnyxProvider()
MODULE = ProviderModule(PROVIDER, _credentials, TelnyxSettings)
