"""The group-commit writer when the database is unavailable: the batch fails once, each caller is told;
on SQLite it holds the file's write lock queue (`store.db.WriteLock`) for its transactions, and only then."""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from pathlib import Path

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from gateway.dates import utcnow
from gateway.store.db import make_engine, migrate
from gateway.store.tables import PolicyRevision
from gateway.store.writer import Writer

BUSY_TIMEOUT = 0.3


def test_a_batch_that_finds_the_database_locked_fails_once_not_once_per_job(tmp_path: Path):
    """Five jobs in one batch, SQLite locked past the busy timeout: all five get the OperationalError after
    one wait, rather than the batch's wait plus one more per job run alone."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    engine = make_engine(f"{url}?timeout={BUSY_TIMEOUT}")
    writer = Writer(engine)

    def job(session: Session) -> None:
        session.add(PolicyRevision(id="never-stored", loaded_at=utcnow(), files="{}"))

    async def five_jobs() -> list[object]:
        runs = [asyncio.create_task(writer.run(job)) for _ in range(5)]
        await asyncio.sleep(0)  # all five are queued before the writer takes its first batch
        writer.start()
        return await asyncio.gather(*runs, return_exceptions=True)

    holder = sqlite3.connect(tmp_path / "gateway.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    try:
        outcomes = asyncio.run(five_jobs())
    finally:
        took = time.monotonic() - started
        holder.execute("COMMIT")
        holder.close()
        writer.stop()
        engine.dispose()
    assert all(isinstance(outcome, OperationalError) for outcome in outcomes)
    assert took < 3 * BUSY_TIMEOUT


def _taken(path: Path) -> bool:
    """Whether another writer holds the write lock file `path` (asked without waiting, from a
    descriptor of our own, as another process would)."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)
    return False


def test_an_sqlite_writer_holds_the_write_lock_queue_while_its_transaction_runs_and_then_lets_go(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    engine = make_engine(url)
    writer = Writer(engine)
    lock_file = tmp_path / "gateway.db.write-lock"

    async def run() -> bool:
        writer.start()
        return await writer.run(lambda session: _taken(lock_file))

    try:
        held_inside = asyncio.run(run())
    finally:
        writer.stop()
        engine.dispose()
    assert held_inside
    assert not _taken(lock_file)
