"""What every provider adapter is: four pure functions over normalized types.

An adapter translates between one provider's wire format and these types; it does no I/O and
never sees Starlette. The HTTP edge builds a `RawRequest` from what arrived and hands it to
`verify` then `parse_status`; the dispatch worker sends the `httpx2.Request` from `build_send`
with its one shared client and hands the response to `read_send`.

    ProviderError                 read_send could not get a message accepted
    ├── Retryable(retry_after)    transport error or 5xx: try again later, same idempotency key
    │   └── Throttled             429: wait retry_after (from Retry-After) before trying again
    └── Rejected(code, message)   other 4xx: permanent, carries the provider's own code;
                                  `short_code_refused` when the destination's carrier takes no short codes
    WebhookRejected               forged or unsigned webhook: the edge answers 403
    MalformedWebhook              signed, but not a webhook we can read: the edge answers 400

`read_send` only ever sees a response. When the request never got one (connect error, timeout,
reset), the worker maps the `httpx2.TransportError` to `Retryable` itself, once, as httpx's
`map_httpcore_exceptions` does for its own layer.
"""

from __future__ import annotations

import base64
import email.utils
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol
from urllib.parse import parse_qsl

import httpx2

from gateway.lifecycle import Status as Status  # re-exported for adapters


@dataclass(frozen=True)
class RawRequest:
    """A webhook as it arrived, built by the HTTP edge so adapters are tested with bytes."""

    public_url: str  # the URL the provider called, as it sees it (scheme/host/port/path/query)
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    form: tuple[tuple[str, str], ...]  # parse_form(body): every field kept, in order, for signatures


@dataclass(frozen=True)
class StatusEvent:
    """One status report about one sent message; `raw` keeps the provider's payload."""

    provider_sid: str
    status: Status
    error_code: int | None
    raw: Mapping[str, str]
    reference: str | None = None  # the gateway's own sid, when the provider echoes it back signed (Vonage's client-ref)


@dataclass(frozen=True)
class Part:
    """One part of a long inbound message a provider does not join itself (Vonage's concat-*)."""

    ref: str  # the sender's reference shared by all parts of one message
    number: int  # 1-based
    total: int


@dataclass(frozen=True)
class InboundMessage:
    """A message a person sent to one of our senders; `raw` keeps every field as received.

    `raw` is what the app's forward carries: Twilio's fields for Twilio; for other providers
    `twilio_fields(...)` (so an app written for Twilio reads them unchanged) followed by the
    provider's own fields as received, each named "<provider>.<field>", for the audit.
    `part` is set on one part of a long message: the edge joins the parts before anything
    is decided (gateway/providers/reassembly.py)."""

    provider_sid: str  # the provider's message id: the idempotency key of the webhook
    sender: str  # From, as the provider wrote it ("+E164" or "whatsapp:+E164")
    to: str
    body: str
    media_urls: tuple[str, ...]
    raw: tuple[tuple[str, str], ...]
    part: Part | None = None
    #: Each item's Content-Type as the provider stated it, in `media_urls`' order, None where it
    #: does not (Plivo's webhook names none); `()` when no item's type is known.
    media_types: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class OutboundMessage:
    """A message the gateway hands to a provider; `sid` is the gateway's own, used as idempotency key."""

    sid: str
    sender: str
    to: str
    body: str
    media_urls: tuple[str, ...] = ()
    status_callback: str | None = None
    validity_period: int | None = None


@dataclass(frozen=True)
class Credentials:
    account_sid: str
    auth_token: str
    base_url: str


@dataclass(frozen=True)
class SendResult:
    provider_sid: str
    status: Status


class ProviderError(Exception):
    """A send the provider did not accept; the worker decides by kind, never by text."""


class Retryable(ProviderError):
    """Transport error or 5xx: the same send may succeed later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Throttled(Retryable):
    """429: the provider asked us to slow down for `retry_after` seconds (None if it did not say)."""


class Rejected(ProviderError):
    """Any other 4xx: permanent for this message; `code` is the provider's (or the HTTP status).

    `short_code_refused`: the provider said the destination's carrier cannot take messages from
    short codes (each adapter knows its own code for it); the dispatcher then sends the message
    again from a long code of its Messaging Service (Short Code Reroute)."""

    def __init__(self, code: int, message: str, *, short_code_refused: bool = False) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.short_code_refused = short_code_refused


class WebhookRejected(Exception):
    """A webhook that is forged or unsigned; the edge answers 403 and records nothing."""


class MalformedWebhook(Exception):
    """A signed webhook that lacks what its kind must carry; the edge answers 400 and records nothing."""


class Provider(Protocol):
    @property
    def name(self) -> str:
        """The slug in `PROVIDERS` (read-only, so a frozen dataclass satisfies it under mypy --strict)."""
        ...

    @property
    def reference_in_callback(self) -> bool:
        """Whether status callbacks may carry our sid as `?ref=` (True), or the provider echoes it back
        in a signed field of its own and `parse_status` reads it from there (False)."""
        ...

    def verify(self, raw: RawRequest, secret: str) -> None:
        """Raise `WebhookRejected` unless `raw` was signed by the provider with `secret`."""
        ...

    def parse_status(self, raw: RawRequest) -> list[StatusEvent]:
        """The reports in a status webhook; raise `MalformedWebhook` when it is not one."""
        ...

    def parse_inbound(self, raw: RawRequest) -> list[InboundMessage]:
        """The messages in an inbound webhook; raise `MalformedWebhook` when it is not one."""
        ...

    def build_send(self, message: OutboundMessage, credentials: Credentials) -> httpx2.Request: ...

    def read_send(self, response: httpx2.Response) -> SendResult:
        """Return the accepted send, or raise `Retryable`, `Throttled` or `Rejected`."""
        ...


class Deliveries(Protocol):
    """What the gateway does with what arrives over a link: the same as with webhooks."""

    async def inbound(self, provider: str, message: InboundMessage) -> None:
        """Record a person's message (or one part of a long one) and all it causes."""
        ...

    async def reports(self, provider: str, events: list[StatusEvent]) -> bool:
        """Apply status reports; False when a report's message is not known (yet)."""
        ...


class Link(Protocol):
    """A provider reached over a connection the workers hold open (SMPP) instead of HTTP requests
    and webhooks: `send` raises the `ProviderError` kinds as `read_send` does."""

    async def start(self, deliveries: Deliveries) -> None: ...

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def stop(self) -> None: ...

    def state(self) -> str:
        """`bound`, or `binding` while its connection is being made, at start or after a drop."""
        ...


def twilio_fields(
    sender: str, to: str, body: str, media_urls: tuple[str, ...] = (), media_types: tuple[str | None, ...] = ()
) -> list[tuple[str, str]]:
    """The fields of Twilio's inbound webhook an app reads; the gateway fills in the sids.

    Twilio sends `MediaContentType{N}` with every `MediaUrl{N}`, and apps index it without a
    fallback: it is written for each item, empty where the provider did not state the type."""
    fields = [
        ("MessageSid", ""),
        ("SmsSid", ""),
        ("SmsMessageSid", ""),
        ("AccountSid", ""),
        ("From", sender),
        ("To", to),
        ("Body", body),
        ("NumMedia", str(len(media_urls))),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
    kinds = media_types or (None,) * len(media_urls)
    for i, (url, kind) in enumerate(zip(media_urls, kinds, strict=True)):
        fields += [(f"MediaContentType{i}", kind or ""), (f"MediaUrl{i}", url)]
    return fields


def parse_form(body: bytes) -> tuple[tuple[str, str], ...]:
    """Decode a form body keeping every field, blanks and repeats included: signatures cover them all."""
    return tuple(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def parse_retry_after(value: str | None, now: float | None) -> float | None:
    """Seconds to wait from a Retry-After header, either delta-seconds or an HTTP date (RFC 9110 §10.2.3).

    `now` is a Unix time, passed in so this stays pure; adapters use the response's own `Date`
    header, which also cancels any clock skew between us and the provider. Without a `now`, or
    with a value that is neither form, the answer is None and the caller's own backoff applies.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    if now is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no offset information (RFC 5322 §3.3)
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def status_of(table: Mapping[str, Status], word: str, *, provider: str, about: str) -> Status:
    """A provider's status word through its adapter's table; a word not in it is UNKNOWN and logged
    (on the adapter's own logger), never a crash."""
    status = table.get(word.lower(), Status.UNKNOWN)
    if status is Status.UNKNOWN:
        logging.getLogger(f"gateway.providers.{provider}").warning(
            "%s: unknown status %r for %s", provider, word, about
        )
    return status


def response_json(response: httpx2.Response) -> dict[str, Any]:
    """A provider's JSON answer as an object; anything else (HTML from a proxy, a list) is empty."""
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def server_now(response: httpx2.Response) -> float | None:
    """The provider's clock from its Date header, so an HTTP-date Retry-After ignores our skew."""
    try:
        return email.utils.parsedate_to_datetime(response.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def e164(number: str) -> str:
    """A number as E.164: Plivo and Vonage write it without "+"; the gateway keys senders and people
    by E.164.  Anything that is not all digits (an alphanumeric sender) is left as written."""
    number = number.strip()
    return number if not number or number.startswith("+") or not number.isdigit() else f"+{number}"


#: Seconds a signed timestamp may be away from our clock before a webhook counts as a replay
#: (Telnyx's and Vonage's SDKs use 300).
REPLAY_TOLERANCE = 300.0
#: Twilio's "unknown error": what a provider error no table maps to is recorded as.
UNKNOWN_ERROR = 30008


def map_code(table: Mapping[int, int], code: int, *, provider: str) -> int:
    """A provider's error code as the Twilio code apps know; an unmapped one is 30008 and logged."""
    mapped = table.get(code)
    if mapped is None:
        logging.getLogger(f"gateway.providers.{provider}").warning(
            "%s: unmapped error code %s, recorded as %s", provider, code, UNKNOWN_ERROR
        )
        return UNKNOWN_ERROR
    return mapped


def check_fresh(sent_at: float, now: float, *, what: str) -> None:
    """Refuse a signed timestamp further than REPLAY_TOLERANCE from our clock, as a replay."""
    if abs(now - sent_at) > REPLAY_TOLERANCE:
        raise WebhookRejected(f"{what} is more than {REPLAY_TOLERANCE:g} s away: a replay")


def raise_if_transient(response: httpx2.Response, provider: str, text: str) -> None:
    """429 → Throttled and 5xx → Retryable, with the provider's Retry-After (read on its own clock);
    any other answer returns for the adapter to read."""
    status = response.status_code
    if status != 429 and status < 500:
        return
    retry_after = parse_retry_after(response.headers.get("retry-after"), server_now(response))
    if status == 429:
        raise Throttled(f"{provider} throttled: {text}", retry_after)
    raise Retryable(f"{provider} {status}: {text}", retry_after)


def basic_auth(credentials: Credentials) -> str:
    """The Authorization header of HTTP Basic with the account's id and token."""
    userpass = f"{credentials.account_sid}:{credentials.auth_token}".encode()
    return "Basic " + base64.b64encode(userpass).decode("ascii")
