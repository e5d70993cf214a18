"""Hot inserts handed to the driver's own `executemany` as tuples, without SQLAlchemy's per-row work.

Why: under inbound load the writer thread spent about an eighth of its time in SQLAlchemy's
parameter processing for `executemany` (`_init_compiled` walking every row's every parameter
through its bind processor, `UTCDateTime` among them) on top of the driver's own `executemany`.
The rows of an inbound batch or a send batch (messages, receipts, consent events and states,
confirmations, requests to apps) are plain values already; only two kinds need converting for a
driver, and both are known from the table's column types: a time (SQLite keeps it as the text
SQLAlchemy's `DATETIME` writes; PostgreSQL's driver takes the aware `datetime` itself) and a
`JSONText` column (its compact text).

A `Batch` wraps one prebuilt Core INSERT (or upsert, which the statements test still compiles
and runs), compiles it once per backend into positional SQL, and writes rows through
`Connection.exec_driver_sql`: in the caller's transaction and SAVEPOINT, with the driver's
errors wrapped as SQLAlchemy's (`IntegrityError`, `OperationalError`) as the writer's retries
expect, and with SQLAlchemy's events still seeing each statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import DateTime, Table
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.dml import Insert
from sqlalchemy.types import TypeDecorator, TypeEngine

from gateway.store.tables import JSONText

Row = Mapping[str, Any]
Convert = Callable[[datetime], Any]


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive time is refused, as `UTCDateTime` refuses it (its zone is unknowable)."""
    if moment.tzinfo is UTC:
        return moment
    if moment.utcoffset() is None:
        raise ValueError(f"a time without its zone cannot be stored: {moment!r}")
    return moment.astimezone(UTC)


def sqlite_time(moment: datetime) -> str:
    """A time as SQLAlchemy's SQLite `DATETIME` stores it (UTC, microseconds, no offset), so that the
    ORM reads it back and comparisons and orderings against times it wrote keep working."""
    return utc(moment).isoformat(" ", "microseconds")[:26]


#: The conversion a time column's values need, by backend.
_TIMES: dict[str, Convert] = {"sqlite": sqlite_time, "postgresql": utc}
#: Positional SQL needs a positional paramstyle: PostgreSQL's driver takes `%s` as well as its default `%(name)s`.
_COMPILERS: dict[str, Dialect] = {"postgresql": psycopg.dialect(paramstyle="format")}  # type: ignore[no-untyped-call]


def _kind(type_: TypeEngine[Any]) -> type[TypeEngine[Any]] | None:
    """What a column's values need converting as: a time, a `JSONText` object, or nothing."""
    if isinstance(type_, JSONText):
        return JSONText
    while isinstance(type_, TypeDecorator):
        type_ = type_.impl_instance
    return DateTime if isinstance(type_, DateTime) else None


class Batch:
    """One table's prebuilt INSERT, written with every column but its generated key, from rows that
    map each of those columns to its value (the row builders' dicts)."""

    def __init__(self, statement: Insert) -> None:
        table = statement.table
        assert isinstance(table, Table)
        self.statement = statement
        columns = [c for c in table.columns if c is not table.autoincrement_column]
        self.columns: tuple[str, ...] = tuple(c.name for c in columns)
        self._values = itemgetter(*self.columns)
        self._times = [i for i, c in enumerate(columns) if _kind(c.type) is DateTime]
        self._json = [i for i, c in enumerate(columns) if _kind(c.type) is JSONText]
        self._sql: dict[str, str] = {}

    def sql(self, dialect: Dialect) -> str:
        """The statement as the driver runs it on this backend, compiled once."""
        found = self._sql.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(
                dialect=_COMPILERS.get(dialect.name, dialect), column_keys=list(self.columns)
            )
            assert compiled.positiontup == list(self.columns), "a positional statement binds its columns in order"
            found = self._sql[dialect.name] = compiled.string
        return found

    def tuples(self, dialect: Dialect, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        """The rows as the driver takes them: values in column order, times and JSON converted.  The
        rows of a batch share their moments, so each distinct time is converted once."""
        time = _TIMES[dialect.name]
        converted: dict[datetime, Any] = {}
        out = []
        for row in rows:
            values = list(self._values(row))
            for i in self._times:
                moment = values[i]
                if moment is not None:
                    stored = converted.get(moment)
                    if stored is None:
                        stored = converted[moment] = time(moment)
                    values[i] = stored
            for i in self._json:
                if values[i] is not None:
                    values[i] = JSONText.dump(values[i])
            out.append(tuple(values))
        return out

    def write(self, connection: Connection, rows: Sequence[Row]) -> None:
        """Insert `rows` in the caller's transaction: one `executemany` of the driver, however many."""
        if rows:
            connection.exec_driver_sql(self.sql(connection.dialect), self.tuples(connection.dialect, rows))
