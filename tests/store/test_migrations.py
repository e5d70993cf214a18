"""Alembic migrations and the SQLModel tables describe the same schema, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import gateway.store.tables  # noqa: F401 (registers the tables)
from gateway.store.db import make_engine, migrate


def test_migrations_build_exactly_the_declared_tables(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == []
