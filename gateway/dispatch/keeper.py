"""The lease keeper: which senders this worker paces, and the upkeep of the queue.

One keeper task per dispatcher finds work: senders with queued messages whose lease is free,
lapsed or ours (every `poll` seconds, and at once for senders this process just queued work
for, `want`); it takes their leases and has their pacers started (`Pacers.taken`), renews the
leases held every third of their time to live (a lease that moved on stops its pacer,
`Pacers.lost`), fails messages whose validity period ended, and releases held messages that came
due (`dispatch.holds`): each second, and at once when the clock moves
(`gateway.dates.Clock.on_change`).  A lease is given back when its pacer goes idle (`let_go`)
and, with its claimed messages queued again, when the dispatcher stops (`release_all`).

A lease is good, by this worker's loop clock, until `LEASE_MARGIN` seconds before it would
lapse: the pacer stops starting sends then, so its last sends are answered and out of the
one-second window before anyone else can take over.  Statements are the store's
(`store.leases`, `store.claims`); time comes from the injected `clock`, read when a job runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol

from sqlalchemy.engine import Engine

from gateway.dates import Clock
from gateway.dispatch import outcomes
from gateway.dispatch.holds import release_due
from gateway.outbox.backlog import Backlog
from gateway.policy.model import Policy
from gateway.store import claims, leases
from gateway.store.writer import Writer
from gateway.waiting import wait_event

log = logging.getLogger("gateway.dispatch")

#: A holder stops starting sends this long before its lease would lapse by its own clock, so its
#: last sends are answered and out of the one-second window before anyone else can take over.
LEASE_MARGIN = 2.0


class Pacers(Protocol):
    """What the keeper keeps leases for: the dispatcher's pacers, one per sender.  `until` is the
    loop time from which the pacer may not start a send."""

    def pacing(self) -> set[str]:
        """The senders whose pacer runs: their leases are not taken again."""
        ...

    def holding(self) -> list[str]:
        """The senders whose leases this worker holds and still needs (pacing, or answers to write)."""
        ...

    def taken(self, sender_sid: str, until: float) -> None:
        """The sender's lease is this worker's: start its pacer, or wake the one running."""
        ...

    def renewed(self, sender_sid: str, until: float) -> None:
        """The sender's lease is this worker's for longer."""
        ...

    def lost(self, sender_sid: str) -> None:
        """The sender's lease lapsed and moved on: its pacer stops."""
        ...


class Keeper:
    def __init__(
        self,
        engine: Engine,
        writer: Writer,
        backlog: Backlog,
        pacers: Pacers,
        reads: Executor | None,
        *,
        owner: str,
        lease_ttl: float,
        poll: float,
        sweep: float,
        clock: Clock,
        policy: Callable[[], Policy | None],
    ) -> None:
        self.engine, self.writer, self.backlog, self.pacers, self.reads = engine, writer, backlog, pacers, reads
        self.owner, self.lease_ttl, self.poll = owner, lease_ttl, poll
        self.sweep = sweep  # seconds between releases of due held messages and expiries (and at each clock move)
        self._clock = clock
        self.policy = policy  # the revision in force, which held messages are judged by again when they come due
        self._task: asyncio.Task[None] | None = None
        self._wanted: set[str] = set()  # senders this process queued work for and holds no lease of
        self._poke = asyncio.Event()
        self._due = False  # held messages may have come due: release them in the next pass
        self._unsubscribe: Callable[[], None] | None = None
        self._stopping = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._unsubscribe = self._clock.on_change(lambda: loop.call_soon_threadsafe(self._clock_moved))
        self._task = asyncio.create_task(self._keep())

    async def stop(self) -> None:
        """Take no lease any more and end the task; the leases held stay until `release_all`."""
        self._stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def want(self, sender_sid: str) -> None:
        """This process queued work for a sender whose pacer does not run: take its lease now."""
        if self._stopping:
            return
        self._wanted.add(sender_sid)
        self._poke.set()

    def let_go(self, sender_sid: str) -> None:
        """The sender's pacer went idle: its lease is free for anyone (a second later, `store.leases`)."""
        self.writer.submit(
            lambda session: leases.release(
                session, [sender_sid], owner=self.owner, requeue=False, now=self._clock.now()
            )
        )

    async def release_all(self) -> None:
        """Give back every lease, the claimed and unsent messages queued again, so another worker takes
        over at once; a database that is gone lets them lapse by themselves."""
        try:
            await self.writer.run(
                lambda session: leases.release(session, None, owner=self.owner, requeue=True, now=self._clock.now())
            )
        except Exception as exc:
            log.warning("could not release the sender leases: %s", exc)

    def _clock_moved(self) -> None:
        """The clock jumped (tests): held messages may be due now, not at the next sweep."""
        self._due = True
        self._poke.set()

    async def _keep(self) -> None:
        loop = asyncio.get_running_loop()
        next_renewal = next_poll = next_sweep = 0.0
        while True:
            await wait_event(self._poke, self.poll)
            self._poke.clear()
            now = loop.time()
            try:
                if now >= next_renewal:
                    await self._renew(now)
                    next_renewal = now + self.lease_ttl / 3
                found, self._wanted = self._wanted, set()
                if now >= next_poll:
                    found |= set(
                        await loop.run_in_executor(self.reads, _with_work, self.engine, self.owner, self._clock)
                    )
                    next_poll = now + self.poll
                if self._due or now >= next_sweep:
                    self._due = False
                    released = await self.writer.run(
                        lambda session: release_due(session, self._clock.now(), self.backlog, self.policy())
                    )
                    found |= released.senders
                    if released.more:  # a full batch: the next pass takes more at once
                        self._due = True
                        self._poke.set()
                await self._take(found - self.pacers.pacing(), now)
                if now >= next_sweep:
                    await self.writer.run(lambda session: outcomes.expire(session, self.backlog, now=self._clock.now()))
                    next_sweep = now + self.sweep
            except Exception as exc:  # database down: keep trying; pacers stop when their leases end
                log.error("dispatch keeper: %s", exc)
                await asyncio.sleep(self.poll)

    async def _renew(self, started: float) -> None:
        held = self.pacers.holding()
        if not held:
            return
        kept = await self.writer.run(
            lambda session: leases.renew(session, held, owner=self.owner, now=self._clock.now(), ttl=self.lease_ttl)
        )
        for sid in held:
            if sid in kept:
                self.pacers.renewed(sid, started + self.lease_ttl - LEASE_MARGIN)
                continue
            log.warning("the lease of sender %s lapsed and moved on: its pacer stops", sid)
            self.pacers.lost(sid)

    async def _take(self, candidates: set[str], started: float) -> None:
        if not candidates or self._stopping:
            return
        taken = await self.writer.run(
            lambda session: leases.acquire(
                session, sorted(candidates), owner=self.owner, now=self._clock.now(), ttl=self.lease_ttl
            )
        )
        for sid in taken:
            self.pacers.taken(sid, started + self.lease_ttl - LEASE_MARGIN)


def _with_work(engine: Engine, owner: str, clock: Clock) -> list[str]:
    with engine.connect() as connection:
        return claims.senders_with_work(connection, owner, clock.now())
