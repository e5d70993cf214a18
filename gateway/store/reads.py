"""Reads for the HTTP edges, run off the event loop.

An endpoint that read the database on the event loop held every other request of its process
for as long as its statement ran: a deep page of opt-outs delayed every webhook and send.  So
the API and the console read only through `read`, which runs a function of a Session in a worker
thread (as the writer runs every write on its own thread, `writer.py`) and awaits its result.

At most READERS reads of a process run at once (per event loop); the others wait for a thread
without holding a pooled connection, so a burst of slow pages cannot take the connections the
writer, dispatch and forwarding need (the pool keeps 5, and up to 10 more).  Sign-in reads its
account rows through a lane of its own (`SIGN_INS`, `accounts.Accounts`), so a sign-in whose
cache missed never queues behind slow pages, and a flood of made-up AccountSids takes at most
SIGN_IN_READERS connections.

A read cancelled while its thread runs (a task the lifespan stops, a request given up) still
ends only once the thread has finished and given its connection back (`in_thread`): a thread
cannot be stopped, and one still holding a connection when the lifespan calls `engine.dispose()`
would return it to the discarded pool, open until garbage collection.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar
from weakref import WeakKeyDictionary

import anyio.to_thread
from anyio import CapacityLimiter
from sqlalchemy.engine import Engine
from sqlmodel import Session

P = ParamSpec("P")
T = TypeVar("T")
READERS = 4
SIGN_IN_READERS = 2


class Readers:
    """A lane of reads in worker threads: at most `size` at once per event loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = WeakKeyDictionary()

    async def read(
        self, engine: Engine, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """`fn(session, *args, **kwargs)` in a worker thread, in a session of its own that is closed
        (its transaction rolled back) before the result is returned; ORM objects come back detached,
        their loaded attributes readable."""
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:  # one per loop: a limiter wakes its waiters on the loop they wait in
            limiter = self._limiters[loop] = CapacityLimiter(self.size)
        return await in_thread(functools.partial(_in_session, engine, fn, *args, **kwargs), limiter)


async def in_thread(call: Callable[[], T], limiter: CapacityLimiter | None = None) -> T:
    """`call()` in a worker thread.  Cancelled, this waits for the thread's call to finish before
    raising: asyncio's cancellation abandons a thread's work (anyio's wait for it holds only against
    anyio's own cancel scopes), and a caller gone while its thread still uses a pooled connection
    let the lifespan's `engine.dispose()` leave that connection open (psycopg's ResourceWarning)."""
    work = asyncio.ensure_future(anyio.to_thread.run_sync(call, limiter=limiter))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise


PAGES = Readers(READERS)
SIGN_INS = Readers(SIGN_IN_READERS)
read = PAGES.read


def _in_session(engine: Engine, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    with Session(engine) as session:
        return fn(session, *args, **kwargs)
