"""Reads off the event loop (`store.reads`) when their caller is cancelled: the lifespan cancels its
watchers (`SharedHealth.watch` reads every second) and then disposes of the engine, which leaves
any connection still checked out open until garbage collection (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.store import reads


def test_a_cancelled_read_ends_only_once_its_connection_is_back_in_the_pool(engine: Engine):
    """The read is cancelled while its thread holds a connection and is let go a little later; without
    waiting for it, the cancellation would end at once, with the connection still checked out."""
    reading, release = threading.Event(), threading.Event()

    def held(session: Session) -> None:
        session.execute(select(1))
        reading.set()
        release.wait()

    async def cancel_while_reading() -> int:
        task = asyncio.create_task(reads.read(engine, held))
        await asyncio.to_thread(reading.wait)
        task.cancel()
        asyncio.get_running_loop().call_later(0.05, release.set)
        with pytest.raises(asyncio.CancelledError):
            await task
        checked_out: int = engine.pool.checkedout()  # type: ignore[attr-defined]
        release.set()  # the thread's end, had the cancellation not waited for it
        return checked_out

    assert asyncio.run(cancel_while_reading()) == 0
