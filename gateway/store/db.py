"""Engine, sessions and migrations.

SQLite runs in WAL mode with synchronous=NORMAL: durable across process
crashes, and one fsync per checkpoint rather than per commit.  The processes
of `serve --workers N` take turns at its one write lock through `WriteLock`.
PostgreSQL needs nothing special.  Migrations run through Alembic with a configuration
built here, so `gateway migrate` works from any directory.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session, col, create_engine

from gateway.dates import utcnow as utcnow  # re-exported: store users take it from here
from gateway.store.tables import PolicyRevision, Sender

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")
#: What a database that is down, restarting, locked past the busy timeout or out of pooled
#: connections raises (a lost connection too: drivers report it as OperationalError), as opposed
#: to a statement that is wrong: worth retrying later.
UNAVAILABLE = (OperationalError, PoolTimeout)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Writers wait up to 30 s for SQLite's lock unless the URL says otherwise (`?timeout=2`);
        # past it the write fails and the API answers 503.
        busy = {} if "timeout" in make_url(url).query else {"timeout": 30}
        engine = create_engine(url, connect_args={"check_same_thread": False, **busy})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, emit BEGIN, so that SAVEPOINTs work (SQLAlchemy's
    # documented recipe for the pysqlite driver); `_sqlite_begin` starts each transaction.
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Writers take the write lock up front: a deferred transaction that reads, then writes, fails
    # at once ("database is locked") when another process wrote in between.
    connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get("writer") else "BEGIN")


def per_dialect(build: Callable[[Callable[..., Any]], T]) -> dict[str, T]:
    """A statement needing the dialect's own INSERT (ON CONFLICT), built once for each backend:
    `build(insert)` gets SQLite's or PostgreSQL's `insert`; look the result up by dialect name."""
    return {"sqlite": build(sqlite.insert), "postgresql": build(postgresql.insert)}


def writer_engine(engine: Engine) -> Engine:
    """The engine for transactions that write (the group-commit writer, bulk imports)."""
    return engine.execution_options(writer=True)


class WriteLock:
    """The queue for an SQLite file's write lock, shared by every process writing it.

    SQLite lets one transaction write at a time; one that finds the lock taken sleeps in its busy
    handler for growing steps (1 ms, 2 ms, 5 ms … 100 ms) and looks again, so with two processes
    writing all the time each commit waits for the other's and then for the rest of its own sleep.
    A writer that first queues on an flock(2) of a file beside the database wakes the moment the
    other lets go.  Only a queue: BEGIN IMMEDIATE still takes the lock itself, so a writer outside
    it (a bulk import, another tool) is merely waited for, as before.  `path` None (PostgreSQL,
    which locks rows; in-memory SQLite, one process): nothing to queue for."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._descriptor: int | None = None

    def __enter__(self) -> None:
        if self.path is None:
            return
        if self._descriptor is None:
            self._descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._descriptor, fcntl.LOCK_EX)  # waits without the GIL

    def __exit__(self, *exc: object) -> None:
        if self._descriptor is not None:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def write_lock(engine: Engine) -> WriteLock:
    """The `WriteLock` a writer of `engine` holds around each transaction."""
    database = engine.url.database
    on_file = engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
    return WriteLock(f"{database}.write-lock" if on_file else None)


def serve_lock(database_url: str) -> int | None:
    """Hold, for this process's lifetime, the claim that it is the one `gateway serve` of an SQLite
    file: `serve` takes back at start every lease and claimed message (no other process could be
    holding them), so a second `serve` on the same file would take the first one's work and send
    it again.  Returns the open descriptor (kept open: the claim ends with the process, kill -9
    included); None for PostgreSQL and in-memory SQLite, where nothing is taken back.  Raises
    `ServeLocked` when another process holds the file."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = f"{url.database}.serve-lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise ServeLocked(
            f"another `gateway serve` is using the database {url.database} (it holds {path}): "
            "one serve per SQLite file (run more processes with `serve --workers N`, or use PostgreSQL)"
        ) from None
    return descriptor


class ServeLocked(RuntimeError):
    """Another `gateway serve` holds the SQLite file (`serve_lock`)."""


class MigrationBlocked(RuntimeError):
    """A migration found data it must not decide about; the message says what the operator must do."""


def migrate(url: str, revision: str = "head", token_cipher: Callable[[], Any] | None = None) -> None:
    """Bring the database at `url` to the newest schema (or to `revision`).  `token_cipher` makes the
    deployment's `tokens.TokenCipher`, for migrations that seal or open stored auth tokens; it is
    called only when there are some, so a new database needs no key to be migrated."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["token_cipher"] = token_cipher
    command.upgrade(config, revision)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: everything written inside commits together or not at all."""
    with Session(engine, expire_on_commit=False) as session:
        with session.begin():
            yield session


def ping(connection: Connection) -> None:
    connection.execute(text("SELECT 1"))


def senders_by_provider(connection: Connection) -> dict[str, int]:
    """How many senders are registered with each provider that has some."""
    rows = connection.execute(select(col(Sender.provider), func.count()).group_by(col(Sender.provider))).all()
    return {provider: count for provider, count in rows}


def record_revision(engine: Engine, revision: str, files: dict[str, str]) -> None:
    """Keep the text of a policy revision, once."""
    with unit_of_work(engine) as session:
        if session.get(PolicyRevision, revision) is None:
            session.add(PolicyRevision(id=revision, loaded_at=utcnow(), files=json.dumps(files)))
