"""The dispatch worker: drains the queue toward providers, each sender at its MPS.

Theory.  One pacer task per sender with work.  It reads a small batch of due
messages (replies first, then arrival order), waits for its `SlidingWindow` to
admit each one, and hands it to a send task; several sends of one sender may
be in flight, so a fast sender is not limited by round-trip time.  All writes
(sending, sent, failed, retry time) go through the writer and so commit in
groups.  A pacer with nothing due sleeps until its next retry time or a
`notify`, and ends when its sender is idle.

Recovery: a message left `sending` by a crash is queued again at start and
re-sent with the same idempotency key (its sid), so a provider that honours
the key delivers it once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import httpx2
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import Engine, Row
from sqlmodel import Session

from gateway.dispatch.backlog import Backlog
from gateway.dispatch.outbox import set_status
from gateway.dispatch.pacing import SlidingWindow, backoff
from gateway.errors import UNKNOWN_ERROR, VALIDITY_EXPIRED
from gateway.providers import PROVIDERS
from gateway.providers.base import Credentials, OutboundMessage, Rejected, Retryable, Status, Throttled
from gateway.store.db import utcnow
from gateway.store.tables import Message, Sender
from gateway.store.writer import Writer

log = logging.getLogger("gateway.dispatch")
_M = Message.__table__  # type: ignore[attr-defined]

T = TypeVar("T")
BATCH = 100
IN_FLIGHT_PER_SENDER = 16
#: Requests to providers in flight at once, all senders together.  Measured: an async HTTP client
#: gets through more requests per second with a few dozen in flight than with hundreds.
IN_FLIGHT = 32


@dataclass
class _Pacer:
    sender: Sender | None = None
    window: SlidingWindow = field(default_factory=lambda: SlidingWindow(1))
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    freed: asyncio.Event = field(default_factory=asyncio.Event)  # a send was answered
    in_flight: set[str] = field(default_factory=set)
    paused_until: float = 0.0
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None


class Dispatcher:
    def __init__(self, engine: Engine, writer: Writer, backlog: Backlog, credentials: Mapping[str, Credentials],
                 callback_url: Callable[[str, str], str], client: httpx2.AsyncClient,
                 reads: Executor | None = None) -> None:
        self.engine, self.writer, self.backlog = engine, writer, backlog
        self.reads = reads  # the app's read threads, joined at shutdown before the engine closes
        self.credentials, self.callback_url, self.client = credentials, callback_url, client
        self._pacers: dict[str, _Pacer] = {}
        self._sends: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False
        self._slots = asyncio.Semaphore(IN_FLIGHT)

    async def start(self) -> None:
        recovered = await self._recover()
        self._sweeper = asyncio.create_task(self._sweep_expired(recovered))

    async def _recover(self) -> bool:
        """Queue again what a crash left `sending` and start the busy senders' pacers."""
        try:
            busy = await self.writer.run(_recover)
        except Exception as exc:  # database down at start: the sweeper tries again each second
            log.error("queue recovery failed, will retry: %s", exc)
            return False
        for sender_sid in busy:
            self.notify(sender_sid)
        return True

    async def stop(self) -> None:
        """Stop pacing; in-flight sends finish (or are re-sent after restart with the same key)."""
        self._stopping = True
        tasks = [p.task for p in self._pacers.values() if p.task] + ([self._sweeper] if self._sweeper else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._sends:
            await asyncio.wait(self._sends, timeout=10)

    async def _read(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.reads, function, *args)

    def notify(self, sender_sid: str) -> None:
        """A sender got new work: make sure a pacer runs for it."""
        if self._stopping:
            return
        pacer = self._pacers.get(sender_sid)
        if pacer is not None and pacer.task is not None and not pacer.task.done():
            pacer.wake.set()
            return
        if pacer is None:
            pacer = self._pacers[sender_sid] = _Pacer()
        pacer.task = asyncio.create_task(self._run(sender_sid))

    async def _run(self, sender_sid: str) -> None:
        """Send what is due, in priority then arrival order; sleep until woken; end when idle."""
        pacer = self._pacers[sender_sid]
        if pacer.sender is None:
            sender = await self._read(_load_sender, self.engine, sender_sid)
            if sender is None:
                return
            pacer.sender, pacer.window = sender, SlidingWindow(sender.mps)
        loop = asyncio.get_running_loop()
        while True:
            pacer.wake.clear()
            batch, next_due = await self._read(_due, self.engine, sender_sid, frozenset(pacer.in_flight))
            for message in batch:
                if pacer.wake.is_set() and message.priority > 0:
                    break  # new work arrived: re-read, replies may have jumped the queue
                await self._admit(pacer, message.num_segments)
                pacer.window.start(message.num_segments)
                pacer.in_flight.add(message.sid)
                task = asyncio.create_task(self._send(pacer, message))
                self._sends.add(task)
                task.add_done_callback(self._sends.discard)
            if len(batch) >= BATCH or pacer.wake.is_set():
                continue
            if pacer.timer is not None:
                pacer.timer.cancel()
                pacer.timer = None
            if next_due is not None:  # a retry waits in the database
                pacer.timer = loop.call_later(max(0.01, next_due), pacer.wake.set)
            elif not pacer.in_flight:
                return  # idle: `notify` starts a new pacer when work comes
            await pacer.wake.wait()

    async def _admit(self, pacer: _Pacer, segments: int) -> None:
        """Wait until the sender's window (and any provider pause) lets `segments` more go."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            at = pacer.window.earliest(now, segments) if len(pacer.in_flight) < IN_FLIGHT_PER_SENDER else None
            if at is None:
                pacer.freed.clear()
                await pacer.freed.wait()
                continue
            at = max(at, pacer.paused_until)
            if at <= now:
                return
            await asyncio.sleep(at - now)

    async def _send(self, pacer: _Pacer, message: Row[Any]) -> None:
        try:
            if self.backlog.withdrawn.pop(message.sid, None) is not None:
                return  # canceled (an opt-out) or expired while it waited in the batch
            assert pacer.sender is not None
            provider = PROVIDERS[message.provider or pacer.sender.provider]
            outbound = OutboundMessage(
                sid=message.sid, sender=message.sender or pacer.sender.address, to=message.to, body=message.body,
                media_urls=tuple(u for u in message.media.split("\n") if u),
                status_callback=self.callback_url(provider.name, message.sid),
                validity_period=max(1, int((message.expires_at - utcnow()).total_seconds())))
            try:
                async with self._slots:
                    response = await self.client.send(provider.build_send(outbound, self.credentials[provider.name]))
                result = provider.read_send(response)
            except httpx2.TransportError as exc:
                raise Retryable(f"{type(exc).__name__}: {exc}") from exc
        except Throttled as exc:
            pacer.paused_until = asyncio.get_running_loop().time() + (exc.retry_after or 1.0)
            await self._retry(message, exc)
        except Retryable as exc:
            await self._retry(message, exc)
        except Rejected as rejected:
            code, text = rejected.code, rejected.message
            await self.writer.run(lambda session: _transition(session, message.sid, Status.FAILED, self.backlog,
                                                              error_code=code, error_message=text),
                                  clean_on_error=True)
        except Exception:  # a bug must not lose the message: it stays queued and is retried
            log.exception("send of %s failed unexpectedly", message.sid)
            await self._retry(message, Retryable("unexpected error"))
        else:
            await self.writer.run(lambda session: _transition(session, message.sid, Status.SENT, self.backlog,
                                                              provider_sid=result.provider_sid),
                                  clean_on_error=True)  # status writes raise no GatewayError: no savepoint
        finally:
            pacer.in_flight.discard(message.sid)
            pacer.window.finish(asyncio.get_running_loop().time(), message.num_segments)
            pacer.freed.set()
            if not pacer.in_flight:
                pacer.wake.set()  # let an idle pacer notice, and a retried message be re-read

    async def _retry(self, message: Row[Any], exc: Retryable) -> None:
        delay = backoff(message.attempts + 1, exc.retry_after, jitter=random.uniform(0, 0.5))
        log.info("retrying %s in %.1fs: %s", message.sid, delay, exc)
        await self.writer.run(lambda session: _reschedule(session, message.sid, delay, self.backlog))

    async def _sweep_expired(self, recovered: bool) -> None:
        """Fail queued messages whose validity period ended (30036), once a second."""
        while True:
            await asyncio.sleep(1.0)
            if not recovered:
                recovered = await self._recover()
            self.backlog.prune()
            try:
                await self.writer.run(lambda session: _expire(session, self.backlog))
            except Exception:
                log.exception("expiry sweep failed")


def _recover(session: Session) -> list[str]:
    session.execute(update(Message).where(Message.status == Status.SENDING.value)  # type: ignore[arg-type]
                    .values(status=Status.QUEUED.value))
    rows = session.execute(select(Message.sender_sid).where(Message.status == Status.QUEUED.value)
                           .group_by(Message.sender_sid)).scalars().all()
    return [sid for sid in rows if sid]


def _load_sender(engine: Engine, sender_sid: str) -> Sender | None:
    with Session(engine) as session:
        return session.get(Sender, sender_sid)


_DUE = (select(_M.c.sid, _M.c.sender, _M.c.to, _M.c.body, _M.c.media, _M.c.provider, _M.c.expires_at,
               _M.c.attempts, _M.c.num_segments, _M.c.priority)
        .where(_M.c.sender_sid == bindparam("sender"), _M.c.status == Status.QUEUED.value,
               or_(_M.c.next_attempt_at.is_(None), _M.c.next_attempt_at <= bindparam("now")))
        .order_by(_M.c.priority, _M.c.seq).limit(bindparam("limit")))
_NEXT_DUE = select(func.min(_M.c.next_attempt_at)).where(_M.c.sender_sid == bindparam("sender"),
                                                        _M.c.status == Status.QUEUED.value)


def _due(engine: Engine, sender_sid: str, exclude: frozenset[str]) -> tuple[list[Row[Any]], float | None]:
    """The next batch of sendable messages; when it is not full, the seconds until a retry is due."""
    now = utcnow()
    with engine.connect() as connection:
        rows = connection.execute(_DUE, {"sender": sender_sid, "now": now, "limit": BATCH + len(exclude)}).all()
        batch = [row for row in rows if row.sid not in exclude][:BATCH]
        if len(batch) >= BATCH:
            return batch, None
        later = connection.execute(_NEXT_DUE, {"sender": sender_sid}).scalar()
    if later is None or later <= now:
        return batch, None
    return batch, (later - now).total_seconds()


def _transition(session: Session, sid: str, status: Status, backlog: Backlog, *, error_code: int | None = None,
                error_message: str | None = None, provider_sid: str | None = None) -> bool:
    return set_status(session, sid, status, now=utcnow(), source="dispatch", backlog=backlog, error_code=error_code,
               error_message=error_message, provider_sid=provider_sid)


def _reschedule(session: Session, sid: str, delay: float, backlog: Backlog) -> None:
    message = session.execute(select(Message).where(Message.sid == sid)).scalar_one()
    now = utcnow()
    message.attempts += 1
    message.next_attempt_at = now + timedelta(seconds=delay)
    if message.next_attempt_at >= message.expires_at:
        session.add(message)
        session.flush()
        set_status(session, sid, Status.FAILED, now=now, source="expiry", backlog=backlog,
                   error_code=VALIDITY_EXPIRED, error_message="Validity period expired before the provider took it.")
        return
    if message.status == Status.SENDING.value:
        message.status = Status.QUEUED.value  # not a lifecycle move: back in line, same idempotency key
    session.add(message)


def _expire(session: Session, backlog: Backlog) -> None:
    now = utcnow()
    expired = session.execute(select(Message.sid).where(Message.status == Status.QUEUED.value,
                                                        Message.expires_at <= now).limit(1000)).scalars().all()  # type: ignore[arg-type]
    for sid in expired:
        set_status(session, sid, Status.FAILED, now=now, source="expiry", backlog=backlog,
                   error_code=VALIDITY_EXPIRED, error_message="Validity period expired.")


__all__ = ["Dispatcher", "UNKNOWN_ERROR"]
