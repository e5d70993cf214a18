"""Every statement the gateway builds once, at import, compiles and runs on SQLite and PostgreSQL.

SQLAlchemy compiles a prebuilt statement when it first runs, with the names of the parameters it
is given; a statement that cannot compile then (an UPDATE whose parameter is named like a column
of its table, which SQLAlchemy keeps for its SET clause) fails the first request that reaches it.
So every module-level statement of the gateway (the send, inbound and dispatch paths and all the
others, including dicts of them such as the per-dialect upserts) is found here by walking the
package, compiled with the parameters it names, and executed once with a value of each
parameter's type.  A constraint the sample row violates (NOT NULL, a foreign key) proves the
statement reached the database, which is all this test asks.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import CompileError, IntegrityError
from sqlalchemy.sql import visitors
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.types import ARRAY, TypeDecorator

import gateway
from gateway.store.db import make_engine, migrate

DIALECTS: dict[str, Dialect] = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}

#: Statements known not to compile, each with the reason it still ships.  A strict xfail: once the
#: statement is mended this test fails until its entry here is removed.
KNOWN_BROKEN: dict[str, str] = {}


def prebuilt() -> dict[str, tuple[Executable, str | None]]:
    """Each module-level statement of the gateway by `module.NAME`, with the dialect it is built
    for (a `per_dialect` dict's key) or None for both; a statement imported elsewhere counts once."""
    found: dict[str, tuple[Executable, str | None]] = {}
    seen: set[int] = set()
    for module in pkgutil.walk_packages(gateway.__path__, "gateway."):
        if module.name.startswith("gateway.store.migrations"):  # Alembic scripts run only under Alembic
            continue
        for name, value in vars(importlib.import_module(module.name)).items():
            if isinstance(value, Executable):
                entries = [(name, value, None)]
            elif isinstance(value, dict):
                entries = [
                    (f"{name}[{key}]", item, key if key in DIALECTS else None)
                    for key, item in value.items()
                    if isinstance(item, Executable)
                ]
            else:
                continue
            for label, statement, dialect in entries:
                if id(statement) not in seen:
                    seen.add(id(statement))
                    found[f"{module.name.removeprefix('gateway.')}.{label}"] = (statement, dialect)
    return found


PREBUILT = prebuilt()


def cases(*dialects: str) -> list[Any]:
    """(statement, dialect) for each dialect it is built for; no dialects: one case per statement."""
    params = []
    for name, (statement, built_for) in PREBUILT.items():
        for dialect in dialects or (built_for,):
            if built_for not in (None, dialect):
                continue
            marks = (
                [pytest.mark.xfail(strict=True, raises=CompileError, reason=KNOWN_BROKEN[name])]
                if name in KNOWN_BROKEN
                else []
            )
            params.append(pytest.param(statement, dialect, id=f"{name}-{dialect}" if dialects else name, marks=marks))
    return params


def compile_as_run(statement: Executable, dialect: Dialect) -> Compiled:
    """Compile as an execution does: with its parameters' names, and for an INSERT or UPDATE that
    takes its values from the parameters, every column's name too."""
    names = {bind.key for bind in visitors.iterate(statement) if bind.__visit_name__ == "bindparam"}
    if isinstance(statement, Insert | Update) and not statement._values:
        names |= {column.key for column in statement.table.c}
    return statement.compile(dialect=dialect, column_keys=sorted(names))


def sample_parameters(statement: Executable, compiled: Compiled) -> dict[str, Any]:
    """A value of its type for each parameter the statement needs (an untyped one is a string,
    unless it is the LIMIT)."""
    limit = getattr(statement, "_limit_clause", None)
    params: dict[str, Any] = {}
    for key, bind in compiled.binds.items():
        if not bind.required:
            continue
        value = 1 if limit is not None and key == getattr(limit, "key", None) else _sample(bind.type)
        params[key] = [value] if bind.expanding else value
    return params


def _sample(type_: Any) -> Any:
    if isinstance(type_, TypeDecorator) and type_.python_type is dict:  # JSONText: a dict until it is bound
        return {}
    while isinstance(type_, TypeDecorator):  # sqlmodel's AutoString, UTCDateTime
        type_ = type_.impl_instance
    if isinstance(type_, ARRAY):
        return [_sample(type_.item_type)]
    try:
        python = type_.python_type
    except NotImplementedError:
        python = str
    samples: dict[type, Any] = {
        bool: False,
        int: 1,
        float: 1.0,
        str: "x",
        bytes: b"x",
        datetime: datetime.now(UTC),
        date: date.today(),
    }
    return samples.get(python, "x")


def test_the_walk_finds_the_send_inbound_and_dispatch_statements() -> None:
    """The sticky remap, the inbound receipt and the pacer's claim are among the statements checked."""
    assert {
        "store.senders._STICKY_UPSERTS[postgresql]",
        "store.consent.INSERT_RECEIPTS",
        "store.claims._MARK_SENDING",
    } <= PREBUILT.keys()


@pytest.mark.parametrize(("statement", "dialect"), cases("sqlite", "postgresql"))
def test_prebuilt_statement_compiles_with_the_parameters_it_is_run_with(statement: Executable, dialect: str) -> None:
    """Each prebuilt statement compiles for each backend as its execution compiles it."""
    assert str(compile_as_run(statement, DIALECTS[dialect]))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated database per backend for the whole module (statements run in rolled-back savepoints)."""
    from tests.postgres import new_database

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('statements') / 'gateway.db'}"
    else:
        url = new_database(request.getfixturevalue("postgres"))
    migrate(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.mark.parametrize(("statement", "built_for"), cases())
def test_prebuilt_statement_runs(migrated: Engine, statement: Executable, built_for: str | None) -> None:
    """Each prebuilt statement runs on a migrated database of each backend (a violated constraint
    of the sample row counts as having run)."""
    if built_for not in (None, migrated.dialect.name):
        pytest.skip(f"built for {built_for} only")
    params = sample_parameters(statement, compile_as_run(statement, migrated.dialect))
    with migrated.connect() as connection:
        transaction = connection.begin()
        savepoint = connection.begin_nested()
        try:
            result = connection.execute(statement, params)
        except IntegrityError:  # the sample row broke a constraint: the statement compiled and ran
            result = None
        else:
            assert result is not None  # a CompileError or ProgrammingError fails the test above
        finally:
            savepoint.rollback()
            transaction.rollback()
