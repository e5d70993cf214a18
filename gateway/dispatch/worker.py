"""The dispatch worker: drains the queue toward providers, each sender at its MPS.

Theory.  One pacer task per sender with work, in one worker of the whole
deployment: the worker must hold the sender's lease (`store.leases`).  The
pacer claims a small batch of due messages (replies first, then arrival order;
about two seconds of the sender's traffic) by marking them `sending`, in one
transaction that also checks the lease; it waits for its `SlidingWindow` to
admit each one and hands it to a send task.  Several sends of one sender may be
in flight, so a fast sender is not limited by round-trip time.  All writes go
through the writer and so commit in groups.  A pacer with nothing due sleeps
until its next retry time or a `notify`; when its sender is idle it ends and
lets the lease go (usable by others one second later, so that the next holder
cannot add to its last second of sends).

The lease keeper (`dispatch.keeper`) finds senders with work, takes and renews
their leases and starts their pacers; a pacer whose lease could not be renewed
stops starting sends `LEASE_MARGIN` seconds before the lease lapses.

Recovery: messages left `sending` by a dead worker are queued again by the next
holder of their sender's lease and re-sent with the same idempotency key (the
sid), so a provider that honours the key delivers each once.

An answer the provider gave is never thrown away: when the database cannot take
its write (down, restarting, locked), the send keeps it and writes it again with
backoff until the database answers, the message staying in its pacer's
`in_flight` (so this worker's claims do not queue it again) and its sender's
lease renewed as soon as the database is back.  A worker that took the lease
over from another one waits `ADOPT_AFTER` seconds before queueing the other's
`sending` messages again, the time a live holder needs to write the outcomes it
kept through the outage.  Only a request whose answer never came is repeated.

What this module leaves to others: the leases (`dispatch.keeper`), the claims' statements
(`store.claims`), the guarded provider request (`dispatch.request`), what an outcome writes
(`dispatch.outcomes`).
Time comes from the injected `clock`, read when a job runs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Engine, Row
from sqlmodel import Session

from gateway.dates import CLOCK, Clock
from gateway.dispatch import outcomes
from gateway.dispatch.keeper import LEASE_MARGIN, Keeper
from gateway.dispatch.request import ProviderRequests, Unhealthy
from gateway.errors import UNKNOWN_ERROR
from gateway.lifecycle import Status
from gateway.links import LinkDefaults
from gateway.observability import metrics
from gateway.observability.logs import REQUEST_ID
from gateway.outbox.backlog import Backlog
from gateway.outbox.messages import Change
from gateway.pacing import SlidingWindow, backoff
from gateway.policy.model import Policy
from gateway.providers.base import Rejected, Retryable, Throttled
from gateway.routing import SenderKind
from gateway.store import claims
from gateway.store.db import UNAVAILABLE
from gateway.store.tables import Sender
from gateway.store.writer import Writer
from gateway.waiting import wait_event

log = logging.getLogger("gateway.dispatch")

T = TypeVar("T")

BATCH = 100
IN_FLIGHT_PER_SENDER = 16
#: A pacer keeps claimed messages only while they can go within this many seconds; longer waits
#: (a provider's Retry-After, a long message at a low MPS) give them back to the queue, where an
#: opt-out still cancels them.
HOLD = 2.0
#: After giving messages back, a pacer claims again this long before the window opens, so the
#: claim's round trip does not delay the send.
CLAIM_AHEAD = 0.1
#: An outcome the database could not take is written again after this many seconds, doubling up
#: to `RECORD_RETRY_CAP`: the database is back within a second of answering again.
RECORD_RETRY = 0.05
RECORD_RETRY_CAP = 1.0
#: A worker that took a sender's lease from another owner queues that owner's `sending` messages
#: again only this long after the takeover: the other may be alive, its lease lapsed through a
#: database outage, and still writing the answers it kept (at least every `RECORD_RETRY_CAP`).
ADOPT_AFTER = 3 * RECORD_RETRY_CAP
#: At shutdown, seconds given to requests in flight and to outcomes still waiting for the database.
STOP_WAIT = 10.0


@dataclass
class _Pacer:
    sender: Sender | None = None
    window: SlidingWindow = field(default_factory=lambda: SlidingWindow(1))
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # something changed: look again
    news: asyncio.Event = field(default_factory=asyncio.Event)  # new work queued (a reply may jump ahead)
    freed: asyncio.Event = field(default_factory=asyncio.Event)  # a send was answered
    in_flight: set[str] = field(default_factory=set)
    paused_until: float = 0.0
    lease_until: float = 0.0  # loop time from which this worker may not start a send; 0: no lease
    orphans: bool = True  # `sending` messages no send holds may exist: the next claim queues them again
    task: asyncio.Task[None] | None = None
    timer: asyncio.TimerHandle | None = None

    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        writer: Writer,
        backlog: Backlog,
        requests: ProviderRequests,
        reads: Executor | None = None,
        *,
        owner: str,
        lease_ttl: float = 10.0,
        poll: float = 0.25,
        clock: Clock = CLOCK,
        sweep: float = 1.0,
        policy: Callable[[], Policy | None] = lambda: None,
        links: LinkDefaults | None = None,
    ) -> None:
        self.engine, self.writer, self.backlog, self.requests = engine, writer, backlog, requests
        self.links = links  # the gateway's short-link defaults: the MMS Converter's SMS shortens its links too
        self.reads = reads  # the app's read threads, joined at shutdown before the engine closes
        self.owner = owner
        self.keeper = Keeper(
            engine,
            writer,
            backlog,
            self,
            reads,
            owner=owner,
            lease_ttl=lease_ttl,
            poll=poll,
            sweep=sweep,
            clock=clock,
            policy=policy,
        )
        self._pacers: dict[str, _Pacer] = {}
        self._sends: set[asyncio.Task[None]] = set()
        self._clock = clock
        self._unrecorded: dict[str, str] = {}  # sid → the provider's answer, while the database cannot take it
        self._outcomes = outcomes.Transitions(backlog, clock)  # one handler: a round's outcomes share a batch

    async def start(self) -> None:
        self.keeper.start()

    async def stop(self) -> None:
        """Stop pacing, let in-flight sends finish, and give the leases back with their claimed,
        unsent messages queued again, so that another worker takes over at once."""
        await self.keeper.stop()
        pacers = [p.task for p in self._pacers.values() if p.task]
        for task in pacers:
            task.cancel()
        await asyncio.gather(*pacers, return_exceptions=True)
        if self._sends:
            await asyncio.wait(self._sends, timeout=STOP_WAIT)
        for sid, outcome in self._unrecorded.items():
            log.critical(
                "shutdown: the provider's answer for %s (%s) is lost, the database did not take it "
                "within %gs; the message stays `sending` and its sender's next holder sends it again",
                sid,
                outcome,
                STOP_WAIT,
            )
        for task in self._sends:
            task.cancel()
        await self.keeper.release_all()

    def running(self) -> bool:
        """Whether the keeper (which finds work, renews leases, expires messages) is alive."""
        return self.keeper.running()

    def notify(self, sender_sid: str) -> None:
        """This process queued work for a sender: wake its pacer, or have its lease taken now."""
        pacer = self._pacers.get(sender_sid)
        if pacer is not None and pacer.running():
            pacer.news.set()
            pacer.wake.set()
        else:
            self.keeper.want(sender_sid)

    # The keeper's view of the pacers (`keeper.Pacers`).

    def pacing(self) -> set[str]:
        return {sid for sid, pacer in self._pacers.items() if pacer.running()}

    def holding(self) -> list[str]:
        return [
            sid for sid, pacer in self._pacers.items() if pacer.lease_until and (pacer.running() or pacer.in_flight)
        ]  # in flight: answers to write

    def taken(self, sender_sid: str, until: float) -> None:
        pacer = self._pacers.get(sender_sid)
        if pacer is None:
            pacer = self._pacers[sender_sid] = _Pacer()
        pacer.lease_until = until
        if pacer.running():
            pacer.news.set()
            pacer.wake.set()
        else:
            pacer.task = asyncio.create_task(self._run(sender_sid))

    def renewed(self, sender_sid: str, until: float) -> None:
        self._pacers[sender_sid].lease_until = until

    def lost(self, sender_sid: str) -> None:
        pacer = self._pacers[sender_sid]
        pacer.lease_until = 0.0
        if pacer.task is not None:
            pacer.task.cancel()

    async def _run(self, sender_sid: str) -> None:
        pacer = self._pacers[sender_sid]
        try:
            await self._pace(sender_sid, pacer)
        except asyncio.CancelledError:
            raise
        except Exception:  # database trouble: the keeper starts a new pacer while the sender has work
            log.exception("pacer of sender %s stopped", sender_sid)

    async def _pace(self, sender_sid: str, pacer: _Pacer) -> None:
        """Send what is due, in priority then arrival order; sleep until woken; end when idle."""
        loop = asyncio.get_running_loop()
        sender = await loop.run_in_executor(self.reads, _load_sender, self.engine, sender_sid)  # MPS may have changed
        if sender is None:
            return
        if pacer.sender is None or pacer.sender.mps != sender.mps:
            pacer.window = SlidingWindow(sender.mps)
        pacer.sender, pacer.orphans = sender, True  # a new start: whoever held the sender before may have left some
        limit = min(BATCH, 2 * sender.mps)  # about two seconds of the sender's traffic
        while True:
            pacer.wake.clear()
            pacer.news.clear()
            if loop.time() >= pacer.lease_until:
                return  # the lease was not renewed in time: another worker may take the sender
            in_flight = frozenset(pacer.in_flight) if pacer.orphans else None
            claimed = await self.writer.run(
                lambda session, in_flight=in_flight: claims.claim(  # type: ignore[misc]
                    session, sender_sid, self.owner, limit, in_flight, now=self._clock.now(), adopt_after=ADOPT_AFTER
                )
            )
            if claimed is None:
                pacer.lease_until = 0.0
                return  # the lease is not ours any more
            batch, next_due, pacer.orphans = claimed
            gave_back = False
            for index, message in enumerate(batch):
                reply_waiting = pacer.news.is_set() and message.priority > 0
                later = None if reply_waiting else await self._admit(pacer, message.num_segments)
                if reply_waiting or later is not None:
                    rest = [m.seq for m in batch[index:]]  # back to the queue, where an opt-out can cancel it
                    await self.writer.run(functools.partial(claims.unclaim, seqs=rest))
                    gave_back = True
                    if later is not None:
                        if later >= pacer.lease_until:
                            return  # not before the lease ends: leave the sender to its next holder
                        await wait_event(pacer.news, later - CLAIM_AHEAD - loop.time())
                    break
                pacer.window.start(message.num_segments)
                pacer.in_flight.add(message.sid)
                task = asyncio.create_task(self._send(pacer, message))
                self._sends.add(task)
                task.add_done_callback(self._sends.discard)
            if gave_back or len(batch) >= limit or pacer.wake.is_set():
                continue
            if pacer.timer is not None:
                pacer.timer.cancel()
                pacer.timer = None
            if next_due is not None:  # a retry waits in the database
                pacer.timer = loop.call_later(max(0.01, next_due), pacer.wake.set)
            elif not pacer.in_flight:
                pacer.lease_until = 0.0
                self.keeper.let_go(sender_sid)
                return  # idle: the keeper starts a new pacer when work comes
            await pacer.wake.wait()

    async def _admit(self, pacer: _Pacer, segments: int) -> float | None:
        """Wait until the sender's window (and any provider pause) lets `segments` more go, and
        return None; or return the loop time it could go, when that is more than `HOLD` seconds
        away or after this worker's lease ends."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            at = pacer.window.earliest(now, segments) if len(pacer.in_flight) < IN_FLIGHT_PER_SENDER else None
            if at is None:
                pacer.freed.clear()
                await pacer.freed.wait()
                continue
            at = max(at, pacer.paused_until)
            if at >= pacer.lease_until or at > now + HOLD:
                return at
            if at <= now:
                return None
            await asyncio.sleep(at - now)

    async def _send(self, pacer: _Pacer, message: Row[Any]) -> None:
        REQUEST_ID.set(message.request_id)  # this task's log lines and provider request carry it
        try:
            await self._send_and_record(pacer, message)
        except Exception:  # the outcome was not written: the message stays `sending` until the next claim
            log.exception("the outcome of %s was not recorded; it goes back to the queue", message.sid)
            pacer.orphans = True
        finally:
            pacer.in_flight.discard(message.sid)
            pacer.window.finish(asyncio.get_running_loop().time(), message.num_segments)
            pacer.freed.set()
            if not pacer.in_flight:
                pacer.wake.set()  # let an idle pacer notice, and a retried message be re-read

    async def _send_and_record(self, pacer: _Pacer, message: Row[Any]) -> None:
        """One provider request and its outcome's write."""
        assert pacer.sender is not None
        sender = pacer.sender
        try:
            # The request ends a second before the lease could lapse in the database, so no send of
            # this worker can reach the provider in the next holder's first second.
            result = await self.requests.send(
                message,
                sender,
                now=self._clock.now(),
                paused_until=pacer.paused_until,
                deadline=lambda: pacer.lease_until + LEASE_MARGIN - 1.0,
            )
        except Unhealthy as exc:  # the sender's queue waits for the provider's next probe, paced
            pacer.paused_until = exc.until
            await self._retry(message, exc)
        except Throttled as exc:
            pacer.paused_until = asyncio.get_running_loop().time() + (exc.retry_after or 1.0)
            await self._retry(message, exc)
        except Retryable as exc:
            await self._retry(message, exc)
        except Rejected as rejected:
            code, text = rejected.code, rejected.message
            if rejected.short_code_refused and sender.kind == SenderKind.SHORT_CODE:
                rerouted = await self._record(
                    message.sid,
                    f"rerouted after {code}",
                    lambda: self.writer.run(
                        lambda session: outcomes.reroute(
                            session, message.sid, code, self.backlog, now=self._clock.now()
                        ),
                        clean_on_error=True,
                    ),
                )
                if rerouted is not None:
                    log.info(
                        "%s: the carrier takes no short codes (%s); rerouted to sender %s", message.sid, code, rerouted
                    )
                    self.notify(rerouted)
                    return
            log.info("%s failed: the provider refused it with %s", message.sid, code)
            await self._record(
                message.sid,
                f"refused with {code}",
                lambda: (
                    self.writer.run(
                        lambda session: outcomes.refused(
                            session, message.sid, code, text, self.backlog, now=self._clock.now(), links=self.links
                        )
                    )
                    if outcomes.may_convert(code, message.media)
                    else self.writer.run_batched(
                        self._outcomes, Change(message.sid, Status.FAILED, "dispatch", code, text)
                    )
                ),
            )
        except Exception:  # a bug must not lose the message: it stays queued and is retried
            log.exception("send of %s failed unexpectedly", message.sid)
            await self._retry(message, Retryable("unexpected error"))
        else:
            await self._record(
                message.sid,
                f"accepted as {result.provider_sid}",
                lambda: self.writer.run_batched(
                    self._outcomes, Change(message.sid, Status.SENT, "dispatch", provider_sid=result.provider_sid)
                ),
            )
            metrics.sent(sender.sid, message.num_segments)
            log.debug(
                "%s sent to %s via %s as %s",
                message.sid,
                message.to,
                self.requests.provider_of(message, sender).name,
                result.provider_sid,
            )

    async def _retry(self, message: Row[Any], exc: Retryable) -> None:
        """Back off by the requests the message made: a wait for an unhealthy provider's next probe
        made none, so a message that waited out an outage and then failed once is not held for the
        backoff's cap after the provider recovered."""
        delay = backoff(message.attempts + 1, exc.retry_after, jitter=random.uniform(0, 0.5))
        attempted = not isinstance(exc, Unhealthy)
        log.info("retrying %s in %.1fs: %s", message.sid, delay, exc)
        await self._record(
            message.sid,
            f"retry: {exc}",
            lambda: self.writer.run(
                lambda session: outcomes.reschedule(
                    session, message.sid, delay, self.backlog, now=self._clock.now(), attempted=attempted
                )
            ),
        )

    async def _record(self, sid: str, outcome: str, write: Callable[[], Awaitable[T]]) -> T:
        """Write a send's outcome (`write` hands it to the writer), again and again while the database
        is unavailable: thrown away, it would leave the message `sending`, to be queued and sent
        again, a second SMS to the person when the provider had accepted the first.  The caller's
        message stays in its pacer's `in_flight` meanwhile."""
        delay = RECORD_RETRY
        while True:
            try:
                result = await write()
                break
            except UNAVAILABLE as exc:
                if sid not in self._unrecorded:
                    log.error(
                        "the database did not take the outcome of %s (%s): %s; writing it again until it does",
                        sid,
                        outcome,
                        exc,
                    )
                self._unrecorded[sid] = outcome
            await asyncio.sleep(delay)
            delay = min(2 * delay, RECORD_RETRY_CAP)
        if self._unrecorded.pop(sid, None) is not None:
            log.warning("the outcome of %s (%s) is recorded after the database came back", sid, outcome)
        return result


def _load_sender(engine: Engine, sender_sid: str) -> Sender | None:
    with Session(engine) as session:
        return session.get(Sender, sender_sid)


__all__ = ["Dispatcher", "UNKNOWN_ERROR"]
