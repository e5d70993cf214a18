"""Delivers the outbox to apps: signed, in order per key, retried with backoff.

Each request is signed with X-Twilio-Signature using the account's auth
token, over the URL exactly as configured and every parameter, so app code
that validates Twilio's signatures accepts ours unchanged.  Requests of one
account sharing an ordering key (a message's status callbacks, a person's
forwards) go one at a time in id order; a key never spans accounts, so one
tenant's failing app holds back no other tenant's requests.
Connection errors, timeouts, 408, 429 and 5xx are retried with exponential
backoff and jitter for up to `max_age`; other answers are final, as is a URL
that cannot be requested at all.  What the request ran into is recorded as a
generic reason (`FAILURES`), which tenants see; the client's own words, which
name hosts and ports inside the gateway's network, go only to the log.

Any number of forwarders share one outbox.  Each claims the first pending
request of each account's key with `FOR UPDATE SKIP LOCKED` and hides it from
the others for `claim_for` seconds (its `next_attempt_at` moves forward, so the
key's later requests wait too).  If the forwarder dies, the claim lapses and
another one delivers the request again, with the same id: delivery is at least
once.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import httpx2
from sqlalchemy.engine import Row
from sqlmodel import Session

from gateway.dates import iso8601, utcnow
from gateway.forwarding.signing import standard_webhook_headers
from gateway.observability import metrics
from gateway.observability.logs import REQUEST_ID
from gateway.pacing import backoff
from gateway.providers.twilio import compute_signature
from gateway.store import deliveries
from gateway.store.writer import Writer
from gateway.waiting import wait_event

log = logging.getLogger("gateway.forwarding")

CONCURRENCY = 64
RETRYABLE = frozenset({408, 425, 429})
# A request that got no answer: (what it ran into, worth retrying, the reason recorded), first match.
FAILURES: tuple[tuple[type[Exception] | tuple[type[Exception], ...], bool, str], ...] = (
    ((httpx2.InvalidURL, httpx2.UnsupportedProtocol), False, "invalid URL"),
    ((httpx2.TimeoutException, TimeoutError), True, "timeout"),
    (httpx2.ConnectError, True, "connect failed"),
    (httpx2.TransportError, True, "connection error"),
)
UNEXPECTED = (True, "request failed")  # anything else: a bug or the database while signing; logged in full


class Forwarder:
    def __init__(
        self,
        writer: Writer,
        token_of: Callable[[str], Awaitable[str | None]],
        client: httpx2.AsyncClient,
        *,
        owner: str,
        secret_of: Callable[[str, str], Awaitable[str | None]] | None = None,
        max_age: timedelta = timedelta(hours=24),
        max_backoff: float = 3600.0,
        deadline: float = 25.0,
        claim_for: float = 60.0,
    ) -> None:
        self.writer, self.token_of, self.client = writer, token_of, client
        self.secret_of = secret_of
        self.max_age, self.max_backoff = max_age, max_backoff
        self.owner, self.claim_for = owner, claim_for
        self.deadline = deadline  # seconds one request may take in all; the client's timeouts bound each step
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._active = 0  # deliveries claimed and not yet recorded

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Finish the requests in flight (for a while), then hand back the claims still held."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._sends:
            await asyncio.wait(self._sends, timeout=10)
        try:
            await self.writer.run(lambda session: deliveries.unclaim(session, self.owner))
        except Exception as exc:  # the database is gone: the claims lapse by themselves
            log.warning("could not hand back delivery claims: %s", exc)

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def notify(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            free = CONCURRENCY - self._active  # claim only what starts now: a claim's time runs
            try:
                due = (
                    await self.writer.run(
                        functools.partial(deliveries.claim, owner=self.owner, claim_for=self.claim_for, limit=free)
                    )
                    if free > 0
                    else []
                )
            except Exception:
                log.exception("claiming from the outbox failed")
                due = []
            for delivery in due:
                self._active += 1
                task = asyncio.create_task(self._deliver(delivery))
                self._sends.add(task)
                task.add_done_callback(self._sends.discard)
            if len(due) < free or free <= 0:
                await wait_event(self._wake, 0.25)

    async def _deliver(self, delivery: Row[Any]) -> None:
        REQUEST_ID.set(delivery.request_id)  # this task's log lines and request carry it
        try:
            ok, retry, error = await self._attempt(delivery, delivery.url, delivery.method)
            if not ok and delivery.fallback_url:
                ok, retry, fallback_error = await self._attempt(
                    delivery, delivery.fallback_url, delivery.fallback_method
                )
                error = f"{error}; fallback: {fallback_error}" if not ok else None
            await self.writer.run(lambda session: self._record(session, delivery, ok, retry, error))
        except Exception:
            log.exception("delivery %s failed unexpectedly", delivery.id)
        finally:
            self._active -= 1
            self._wake.set()

    async def _attempt(self, delivery: Row[Any], url: str, method: str) -> tuple[bool, bool, str | None]:
        """One request: (delivered, worth retrying, reason).  Whatever building or sending it raises
        is its outcome, so every attempt is recorded and its key moves on."""
        started = time.perf_counter()
        try:
            request = self._build(delivery, url, method, await self._key(delivery))
            async with asyncio.timeout(self.deadline):
                response = await self.client.send(request)
        except Exception as exc:
            metrics.delivery_attempt(delivery.kind, None, time.perf_counter() - started)
            known = next(((retry, reason) for kinds, retry, reason in FAILURES if isinstance(exc, kinds)), None)
            retry, reason = known or UNEXPECTED
            log.warning(
                "delivery %s attempt failed: %s (%s: %s)",
                delivery.id,
                reason,
                type(exc).__name__,
                exc,
                exc_info=known is None,
            )
            return False, retry, reason
        metrics.delivery_attempt(delivery.kind, response.status_code, time.perf_counter() - started)
        if response.status_code < 400:
            return True, False, None
        return False, response.status_code >= 500 or response.status_code in RETRYABLE, f"HTTP {response.status_code}"

    async def _key(self, delivery: Row[Any]) -> str:
        """What signs the request: the service's Standard Webhooks secret (JSON), else the account's
        auth token.  Both are awaited: a cache miss reads the database in a worker thread, never on
        the event loop that every other delivery and send of this process shares."""
        if delivery.format == "json":
            if self.secret_of is None:
                return ""
            service_sid = dict(json.loads(delivery.params)).get("MessagingServiceSid", "")
            return await self.secret_of(delivery.account_sid, service_sid) or ""
        return await self.token_of(delivery.account_sid) or ""

    def _build(self, delivery: Row[Any], url: str, method: str, key: str) -> httpx2.Request:
        params = [(str(k), str(v)) for k, v in json.loads(delivery.params)]
        headers = {"User-Agent": "optout-gateway", "I-Twilio-Idempotency-Token": f"delivery-{delivery.id}"}
        if delivery.request_id:
            headers["X-Request-Id"] = delivery.request_id
        if delivery.format == "json":
            body = json.dumps(
                {"type": delivery.kind, "timestamp": iso8601(delivery.date_created), "data": dict(params)},
                ensure_ascii=False,
            ).encode()
            headers |= standard_webhook_headers(key, f"msg_{delivery.id}", int(time.time()), body)
            headers["Content-Type"] = "application/json"
            return httpx2.Request("POST", url, content=body, headers=headers)
        if method == "GET":
            full = f"{url}{'&' if '?' in url else '?'}{urlencode(params)}"
            headers["X-Twilio-Signature"] = compute_signature(full, (), key)
            return httpx2.Request("GET", full, headers=headers)
        headers["X-Twilio-Signature"] = compute_signature(url, params, key)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return httpx2.Request("POST", url, content=urlencode(params), headers=headers)

    def _record(self, session: Session, delivery: Row[Any], ok: bool, retry: bool, error: str | None) -> None:
        """The attempt's outcome; nothing if the claim lapsed and another forwarder has the request."""
        now = utcnow()
        attempts = delivery.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "date_updated": now, "last_error": error, "claimed_by": None}
        if ok:
            values["state"] = "delivered"
        elif retry and now - delivery.date_created < self.max_age:
            delay = min(self.max_backoff, backoff(attempts, None, jitter=random.uniform(0, 1.0)))
            values["next_attempt_at"] = now + timedelta(seconds=delay)
        else:
            values["state"] = "dead"
            log.warning(
                "delivery %s to %s is a dead letter after %d attempts: %s", delivery.id, delivery.url, attempts, error
            )
        recorded = deliveries.record(session.connection(), delivery.id, self.owner, values)
        if recorded and values.get("state") == "dead":
            metrics.dead_letter(session, delivery.kind)
