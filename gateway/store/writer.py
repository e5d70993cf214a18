"""Group commit: one thread performs every write, many requests per transaction.

Theory.  SQLite has one writer, and a commit costs far more than the rows it
carries; PostgreSQL too prefers fewer, larger transactions.  So requests do not
commit on their own: each hands a *job* (a function of a Session) to the
writer and awaits its result.  The writer thread takes every job waiting, runs
them one after another in one transaction, each inside a SAVEPOINT so a job
that raises rolls back alone, commits once, and only then resolves the
awaiting requests.  A request is therefore answered only after its writes are
durable, and under load one fsync covers hundreds of requests.

Jobs run in arrival order and see the writes of the jobs before them, so a
check-then-write inside one job (an opt-out check, a sticky mapping) is never
raced by another request of this process.

Batched jobs go further: requests that hand the writer an *item* for a batch
handler (`run_batched`) are gathered, when they wait next to each other, into
one call of the handler with all their items, which reads and writes set by
set (one statement per table for the batch instead of per request).  The
handler returns one outcome per item, a result or the `GatewayError` that
refused it (a refused item writes nothing).  If the handler itself fails, the
items run again one by one, each in its own SAVEPOINT, as plain jobs do.  Another process can race it (on
PostgreSQL): the loser's insert fails on the key, and the job runs once more,
when the winner's row is visible, so it takes the "already there" path.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gateway.errors import GatewayError
from gateway.store.db import UNAVAILABLE, write_lock, writer_engine

log = logging.getLogger("gateway.store")

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 (an item)
Job = Callable[[Session], T]
#: Items in, one outcome per item out: its result, or the `GatewayError` that refused it.
BatchHandler = Callable[[Session, list[I]], Sequence[T | GatewayError]]


@dataclass
class _Pending:
    job: Job[Any] | None
    future: asyncio.Future[Any] | None
    loop: asyncio.AbstractEventLoop | None
    clean_on_error: bool = False
    handler: BatchHandler[Any, Any] | None = None  # with `item`, instead of `job`
    item: Any = None
    #: The submitter's context: a job's log lines carry the request id of the request it serves.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


_STOP = object()


class Writer:
    def __init__(
        self, engine: Engine, max_batch: int = 512, before_batch: Callable[[Session], None] | None = None
    ) -> None:
        self.engine = engine
        self._bind = writer_engine(engine)
        self._lock = write_lock(engine)  # SQLite: taken in turns with the other processes' writers
        self.max_batch = max_batch
        self.before_batch = before_batch  # runs first in each transaction (a cache check)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # sqlite3 releases the GIL around every statement; with the default 5 ms switch interval
        # the writer then waits up to 5 ms per statement for a busy event loop to yield it back.
        sys.setswitchinterval(min(sys.getswitchinterval(), 0.0005))
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gateway-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish every job already submitted, then stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._lock.close()

    async def run(self, job: Job[T], *, clean_on_error: bool = False) -> T:
        """Run `job` in the next transaction; return its result once committed.

        `clean_on_error` promises that when the job raises a `GatewayError` it has written
        nothing yet; it then runs without a SAVEPOINT, which costs about as much as the job."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Pending(job, future, loop, clean_on_error))
        return await future

    async def run_batched(self, handler: BatchHandler[I, T], item: I) -> T:
        """Hand `item` to `handler` in the next transaction, with the other items waiting next to
        it for the same handler; return its outcome once committed (or raise its refusal)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Pending(None, future, loop, handler=handler, item=item))
        return await future

    def submit(self, job: Job[Any]) -> None:
        """Run `job` in the next transaction without waiting for it (failures are logged)."""
        self._queue.put(_Pending(job, None, None))

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stopping = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._commit(batch)
            if stopping:
                return

    def _commit(self, batch: list[_Pending]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self._lock, Session(self._bind, expire_on_commit=False) as session, session.begin():
                session.connection()  # BEGIN now: a database down or locked fails the batch once, not per job
                if self.before_batch is not None:
                    self.before_batch(session)
                for handler, neighbours in groupby(batch, key=lambda pending: pending.handler):
                    if handler is None:
                        runs = [[pending.context.run(_run_job, session, pending)] for pending in neighbours]
                    else:
                        runs = [_run_group(session, handler, list(neighbours))]
                    for run in runs:
                        outcomes += run
                        # Flushed objects stay usable by their caller, detached; an identity map that
                        # grew with the batch would make every autoflush scan it (quadratic batches).
                        session.flush()
                        session.expunge_all()
        except UNAVAILABLE as exc:  # each job alone would only wait for the same outage again
            log.error("write batch of %d failed, the database is unavailable: %s", len(batch), exc)
            outcomes = [(False, exc)] * len(batch)
        except Exception as exc:  # the commit failed, or a clean job broke its promise
            if len(batch) > 1:
                log.warning("write batch of %d failed (%s); running its jobs one by one", len(batch), exc)
                for pending in batch:
                    self._commit([pending])
                return
            log.exception("write failed")
            outcomes = [(False, exc)]
        for pending, (ok, value) in zip(batch, outcomes, strict=True):
            if pending.future is None:
                if not ok:
                    log.error("background write failed: %r", value)
                continue
            assert pending.loop is not None
            pending.loop.call_soon_threadsafe(_settle, pending.future, ok, value)


def _run_group(session: Session, handler: BatchHandler[Any, Any], group: list[_Pending]) -> list[tuple[bool, Any]]:
    """One handler call for the group in a SAVEPOINT; if it fails, each item alone, as a job (in its
    submitter's context: the handler tells the items of a larger group apart itself)."""
    items = [pending.item for pending in group]

    def job(session: Session) -> Any:
        return handler(session, items)

    outcome = _in_savepoint(session, job) if len(group) > 1 else group[0].context.run(_retried, session, job)
    if outcome[0]:
        return [(not isinstance(result, GatewayError), result) for result in outcome[1]]
    if len(group) == 1:
        return [outcome]
    log.warning("batch of %d items failed (%s); running them one by one", len(group), outcome[1])
    return [result for pending in group for result in _run_group(session, handler, [pending])]


def _run_job(session: Session, pending: _Pending) -> tuple[bool, Any]:
    assert pending.job is not None
    if pending.clean_on_error:
        try:
            return True, pending.job(session)
        except GatewayError as exc:  # refused before writing: nothing to undo
            return False, exc
    return _retried(session, pending.job)


def _retried(session: Session, job: Job[Any]) -> tuple[bool, Any]:
    """The job in a SAVEPOINT, and once more if another process wrote the same key first
    (IntegrityError): the second run finds that row and takes the "already there" path."""
    outcome = _in_savepoint(session, job)
    if isinstance(outcome[1], IntegrityError):
        outcome = _in_savepoint(session, job)
    return outcome


def _in_savepoint(session: Session, job: Job[Any]) -> tuple[bool, Any]:
    try:
        with session.begin_nested():
            return True, job(session)
    except Exception as exc:  # the job's own failure: reported to its caller alone
        return False, exc


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
