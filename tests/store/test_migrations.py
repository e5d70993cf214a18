"""Alembic migrations and the SQLModel tables describe the same schema, on both backends."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select
from sqlmodel import Session, SQLModel

import gateway.store.tables  # noqa: F401 (registers the tables)
from gateway.cli import main
from gateway.outbox.deliveries import delivery_row
from gateway.outbox.messages import message_row
from gateway.store.db import make_engine, migrate
from gateway.store.tables import Account, Delivery, Message, Sender


def test_migrations_build_exactly_the_declared_tables(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_migrate_stops_and_names_a_number_two_accounts_registered_with_one_provider(database_url, capsys, monkeypatch):
    """Before numbers had one owner, two accounts could register one; the operator decides which keeps it."""
    migrate(database_url, "0004")
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for account, sender in (("AC" + "a" * 32, "PN" + "a" * 32), ("AC" + "b" * 32, "PN" + "b" * 32)):
            connection.execute(
                insert(Account.__table__),
                {"sid": account, "auth_token": "t" * 32, "friendly_name": "", "date_created": now},
            )
            connection.execute(
                insert(Sender.__table__),
                {
                    "sid": sender,
                    "account_sid": account,
                    "address": "+12015550124",
                    "kind": "long_code",
                    "country": "US",
                    "provider": "twilio",
                    "mps": 1,
                    "date_created": now,
                    "date_updated": now,
                },
            )
    engine.dispose()
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    assert main(["migrate"]) == 1
    error = capsys.readouterr().err
    assert "+12015550124 (twilio)" in error and "PN" + "a" * 32 in error and "PN" + "b" * 32 in error


def test_migrate_rewrites_recorded_delivery_errors_in_the_generic_words_tenants_see(database_url):
    """Dead letters recorded before showed the HTTP client's words, which map the gateway's network."""
    migrate(database_url, "0014")
    engine = make_engine(database_url)
    recorded = {
        "ConnectError: [Errno 111] Connection refused": "connect failed",
        "ReadTimeout: timed out; fallback: HTTP 502": "timeout; fallback: HTTP 502",
        "HTTP 500; fallback: RemoteProtocolError: Server disconnected": "HTTP 500; fallback: connection error",
        "UnsupportedProtocol: Request URL has an unsupported protocol 'ftp://'.": "invalid URL",
        "TimeoutError: ": "timeout",
        "HTTP 401": "HTTP 401",
    }
    try:
        row = delivery_row(
            kind="inbound_forward",
            account_sid="AC" + "a" * 32,
            ordering_key="+12015550124",
            url="http://10.0.0.5:8080/inbound",
            params=[],
            now=datetime.now(UTC),
        )
        with engine.begin() as connection:
            for error in recorded:
                connection.execute(insert(Delivery.__table__), row | {"state": "dead", "last_error": error})
        migrate(database_url)
        with engine.connect() as connection:
            shown = connection.execute(select(Delivery.__table__.c.last_error).order_by(Delivery.__table__.c.id))
            assert list(shown.scalars()) == list(recorded.values())
    finally:
        engine.dispose()


def test_migrate_turns_deflated_reasons_into_the_same_json_kept_as_text(database_url):
    """Messages kept before 0016 hold their reasons deflated; afterwards they read back unchanged."""
    migrate(database_url, "0015")
    engine = make_engine(database_url)
    account = "AC" + "a" * 32
    reasons = [
        {"outcome": {"action": "send", "message": ["outcome.now"]}, "note": "Zustellung über Ägypten"},
        {
            "outcome": {"action": "refuse", "message": "Attempt to send to unsubscribed recipient."}
        },  # English, kept before ids
    ]
    try:
        now = datetime.now(UTC)
        columns = {column["name"] for column in sa.inspect(engine).get_columns("message")}  # as of 0015
        rows = [
            message_row(
                sid=f"SM{index:032d}",
                account_sid=account,
                to="+12015550100",
                status="queued",
                expires_at=now,
                date_created=now,
                reasons=zlib.compress(json.dumps(kept).encode()) if kept else None,
            )
            for index, kept in enumerate([*reasons, None])
        ]
        rows = [{name: value for name, value in row.items() if name in columns} for row in rows]
        with engine.begin() as connection:
            connection.execute(
                insert(Account.__table__),
                {"sid": account, "auth_token": "t" * 32, "friendly_name": "", "date_created": now},
            )
            connection.execute(sa.table("message", *map(sa.column, rows[0])).insert(), rows)
        migrate(database_url)
        engine.dispose()
        engine = make_engine(database_url)
        with Session(engine) as session:
            kept = session.execute(select(Message).order_by(Message.sid)).scalars().all()
            assert [message.reasons for message in kept] == [*reasons, None]
    finally:
        engine.dispose()
