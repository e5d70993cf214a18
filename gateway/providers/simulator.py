"""A stand-in for Twilio's Messages API, for `make run` (mounted under /sim) and for tests.

It answers `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` as Twilio does, then reports
the message's fate to its StatusCallback, signed with X-Twilio-Signature, so the gateway's
dispatcher and webhook edge run unchanged against it. What happens is chosen by the `To` number:
the longest prefix in `SimulatorConfig.failures` names a Twilio error code.

    code < 30000 (21211, 21610 ...)   400 with Twilio's JSON error body; nothing is recorded
    30003, 30005, 30006, 30007        201 queued → callback sent → callback undelivered (ErrorCode)
    other 30xxx                       201 queued → callback failed (ErrorCode)
    no matching prefix                201 queued → callback sent → callback delivered

Callbacks are `delay` seconds apart and retried a few times on connection errors (not on HTTP
errors, as Twilio). Tests steer it through `app.state.sim` (`throttle`, `fail_next`) and read
`received`. Mounted inside another Starlette app, its lifespan does not run (Starlette runs only
the outer app's), so the host must enter `sim.running()` in its own lifespan.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import logging
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.errors import AuthenticationFailed, BadRequest, GatewayError
from gateway.providers.base import parse_form
from gateway.providers.twilio import IDEMPOTENCY_HEADER, compute_signature

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
UNDELIVERED_CODES = frozenset({30003, 30005, 30006, 30007})  # the handset or carrier said no, after `sent`
CALLBACK_ATTEMPTS = 3
_REJECTIONS = {
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}


@dataclass(frozen=True)
class SimulatorConfig:
    auth_token: str = "simulator-token"
    delay: float = 0.05  # seconds between accepting and each status callback
    failures: Mapping[str, int] = field(default_factory=dict)  # To prefix → Twilio error code
    #: The callbacks' timeouts (the gateway gives its GATEWAY_HTTP_* ones).
    timeout: httpx2.Timeout = field(default_factory=lambda: httpx2.Timeout(5.0))


@dataclass(frozen=True)
class Received:
    """A message the simulator accepted (repeats under the same idempotency token are not)."""

    sid: str
    sender: str
    to: str
    body: str
    media: tuple[str, ...]
    received_at: float  # time.monotonic()
    idempotency_key: str | None
    request_id: str | None = None  # the gateway's X-Request-Id: the chain of work the message belongs to


class Simulator:
    """The simulator's state and handlers; one per app, reachable as `app.state.sim`."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.received: list[Received] = []
        #: (From, time.monotonic()) of every send request, repeats under a known key and requests
        #: answered 429 or 5xx included: what a provider's rate limit sees.
        self.requests: list[tuple[str, float]] = []
        self._replies: dict[tuple[str, str], dict[str, Any]] = {}  # (AccountSid, token) → message JSON
        self._throttled, self._retry_after = 0, 0.0
        self._failing, self._fail_status = 0, 503
        self.sms_only: set[str] = set()  # senders not enabled for MMS: media from them is refused (21621)
        self._client: httpx2.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def throttle(self, times: int, retry_after: float) -> None:
        """Answer the next `times` sends with 429 and `Retry-After: retry_after`."""
        self._throttled, self._retry_after = times, retry_after

    def fail_next(self, times: int, status: int = 503) -> None:
        """Answer the next `times` sends with `status` (a 5xx, typically)."""
        self._failing, self._fail_status = times, status

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Own the one callback client; pending callbacks are cancelled on the way out."""
        async with httpx2.AsyncClient(timeout=self.config.timeout) as client:
            self._client = client
            try:
                yield
            finally:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                self._client = None

    async def create_message(self, request: Request) -> JSONResponse:
        if self._client is None:
            raise RuntimeError("simulator not running: enter sim.running() in the host app's lifespan")
        if not self._authorized(request.headers.get("authorization")):
            return _error(AuthenticationFailed("Authenticate"))
        form = parse_form(await request.body())
        # No await from here on: the idempotency check and the insert below cannot interleave.
        fields = dict(form)
        self.requests.append((fields.get("From", ""), time.monotonic()))  # refused ones too: a rate limit sees them
        if self._throttled > 0:
            self._throttled -= 1
            retry_after = f"{self._retry_after:g}"
            return _error(GatewayError("Too Many Requests", code=20429, status=429), {"Retry-After": retry_after})
        if self._failing > 0:
            self._failing -= 1
            status = self._fail_status
            return _error(GatewayError("Simulated provider failure", code=20000 + status, status=status))

        account = request.path_params["account_sid"]
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key and (account, key) in self._replies:
            return JSONResponse(self._replies[account, key], status_code=201)
        to, sender, body = fields.get("To", ""), fields.get("From", ""), fields.get("Body", "")
        media = tuple(value for name, value in form if name == "MediaUrl")
        if not to:
            return _error(BadRequest("A 'To' phone number is required.", code=21604))
        if not body and not media:
            return _error(BadRequest("Message body is required.", code=21602))
        if media and sender in self.sms_only:
            return _error(BadRequest(f"The 'From' number {sender} is not enabled for MMS.", code=21621))
        code = self._failure_for(to)
        if code is not None and code < 30000:
            text = _REJECTIONS.get(code, "Simulated rejection of {to}").format(to=to)
            return _error(BadRequest(text, code=code))

        reply = _message_json(account, sender, to, body, media)
        if key:
            self._replies[account, key] = reply
        self.received.append(
            Received(reply["sid"], sender, to, body, media, time.monotonic(), key, request.headers.get("x-request-id"))
        )
        if callback := fields.get("StatusCallback"):
            task = asyncio.create_task(self._report(callback, reply, code))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return JSONResponse(reply, status_code=201)

    def _authorized(self, header: str | None) -> bool:
        """Basic auth with any AccountSid; the password must be the configured auth token."""
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            _, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except ValueError:  # not ASCII, not base64 (binascii.Error), not UTF-8 (UnicodeDecodeError)
            return False
        return hmac.compare_digest(password.encode(), self.config.auth_token.encode())

    def _failure_for(self, to: str) -> int | None:
        matches = [prefix for prefix in self.config.failures if to.startswith(prefix)]
        return self.config.failures[max(matches, key=len)] if matches else None

    async def _report(self, url: str, message: Mapping[str, Any], code: int | None) -> None:
        """Twilio's callback sequence: queued → sent → delivered/undelivered, or queued → failed."""
        if code is None:
            statuses = ["sent", "delivered"]
        elif code in UNDELIVERED_CODES:
            statuses = ["sent", "undelivered"]
        else:
            statuses = ["failed"]
        for status in statuses:
            await asyncio.sleep(self.config.delay)
            await self._post_callback(url, _callback_fields(message, status, code))

    async def _post_callback(self, url: str, fields: list[tuple[str, str]]) -> None:
        assert self._client is not None
        values = dict(fields)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": compute_signature(url, fields, self.config.auth_token),
            # Twilio sends one per webhook delivery, kept across its retries: receivers dedupe on it.
            IDEMPOTENCY_HEADER: f"{values['MessageSid']}-{values['MessageStatus']}",
        }
        content = urlencode(fields).encode("ascii")
        for attempt in range(CALLBACK_ATTEMPTS):
            try:
                await self._client.post(url, content=content, headers=headers)
                return
            except httpx2.TransportError as exc:
                log.info("simulator: callback to %s failed (%s), attempt %d", url, exc, attempt + 1)
                await asyncio.sleep(0.1 * 2**attempt)
        log.warning("simulator: gave up on callback to %s", url)


def create_simulator(config: SimulatorConfig | None = None) -> Starlette:
    """The simulator as an ASGI app; its state is `app.state.sim`."""
    sim = Simulator(config or SimulatorConfig())
    app = Starlette(
        routes=[Route("/2010-04-01/Accounts/{account_sid}/Messages.json", sim.create_message, methods=["POST"])],
        lifespan=lambda app: sim.running(),
    )
    app.state.sim = sim
    return app


def _message_json(account: str, sender: str, to: str, body: str, media: tuple[str, ...]) -> dict[str, Any]:
    sid = "SM" + uuid.uuid4().hex
    now = format_datetime(datetime.now(UTC))  # RFC 2822, "+0000": what the SDK's parsedate expects
    uri = f"/{API_VERSION}/Accounts/{account}/Messages/{sid}.json"
    return {
        "account_sid": account,
        "api_version": API_VERSION,
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": sender,
        "messaging_service_sid": None,
        "num_media": str(len(media)),
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "to": to,
        "uri": uri,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
    }


def _callback_fields(message: Mapping[str, Any], status: str, code: int | None) -> list[tuple[str, str]]:
    """The callback body in the order Twilio sends it; ErrorCode only for failed/undelivered."""
    sid = message["sid"]
    fields = [
        ("SmsSid", sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", message["to"]),
        ("MessageSid", sid),
        ("AccountSid", message["account_sid"]),
        ("From", message["from"]),
        ("ApiVersion", API_VERSION),
    ]
    if status in ("delivered", "undelivered"):
        fields.append(("RawDlrDoneDate", datetime.now(UTC).strftime("%y%m%d%H%M")))
    if code is not None and status in ("failed", "undelivered"):
        fields.append(("ErrorCode", str(code)))
    return fields


def _error(error: GatewayError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=headers)
