"""Alembic migrations and the SQLModel tables describe the same schema, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert
from sqlmodel import SQLModel

import gateway.store.tables  # noqa: F401 (registers the tables)
from gateway.cli import main
from gateway.store.db import make_engine, migrate
from gateway.store.tables import Account, Sender


def test_migrations_build_exactly_the_declared_tables(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_migrate_stops_and_names_a_number_two_accounts_registered_with_one_provider(database_url, capsys,
                                                                                     monkeypatch):
    """Before numbers had one owner, two accounts could register one; the operator decides which keeps it."""
    migrate(database_url, "0004")
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for account, sender in (("AC" + "a" * 32, "PN" + "a" * 32), ("AC" + "b" * 32, "PN" + "b" * 32)):
            connection.execute(insert(Account.__table__), {"sid": account, "auth_token": "t" * 32,
                                                           "friendly_name": "", "date_created": now})
            connection.execute(insert(Sender.__table__), {
                "sid": sender, "account_sid": account, "address": "+12015550124", "kind": "long_code",
                "country": "US", "provider": "twilio", "mps": 1, "date_created": now, "date_updated": now})
    engine.dispose()
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    assert main(["migrate"]) == 1
    error = capsys.readouterr().err
    assert "+12015550124 (twilio)" in error and "PN" + "a" * 32 in error and "PN" + "b" * 32 in error
