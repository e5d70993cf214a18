"""Hot inserts written as the driver's tuples (`store.rows.Batch`) store exactly what SQLAlchemy's own
binding stored: the ORM reads them back unchanged, times compare with times SQLAlchemy binds,
and the writer still gets SQLAlchemy's errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.sqlite.base import DATETIME
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from gateway.accounts import Accounts
from gateway.compliance.reasons import Reason, readable
from gateway.ids import new_sid
from gateway.outbox.deliveries import delivery_row
from gateway.outbox.messages import message_row
from gateway.store import consent, deliveries, queue
from gateway.store.rows import Batch, sqlite_time
from gateway.store.tables import Delivery, Message, OptOut, core_table
from tests.conftest import TEST_CIPHER, US_MOBILE

NEW_YORK = timezone(timedelta(hours=-5))
#: Reasons as a send keeps them: ids with parameters, a reason within a reason, words of any script.
REASONS: dict[str, Any] = {
    "decided_at": "2026-12-04T21:30:00Z",
    "policy_revision": "40d06831d354",
    "route": {"gate": "route", "verdict": "pass", "reason": Reason("route.area_code").stored(), "code": None},
    "gates": [
        {
            "gate": "opt_out",
            "verdict": "pass",
            "reason": Reason(
                "opt_out.clear", number=US_MOBILE, scope=Reason("scope.service", sid="MG1"), channel="sms"
            ).stored(),
            "source": "opt-out state: scope MG1",
            "code": None,
        },
        {"gate": "note", "verdict": "skip", "reason": "Zustellung über Ägypten — 送信", "source": "x", "code": None},
    ],
    "encoding": {"encoding": "UCS-2", "segments": 2, "smart_encoded": True, "source": "request"},
    "outcome": {"action": "send", "at": "2026-12-04T21:30:00Z", "code": None, "message": ["outcome.now"], "gate": None},
}


def message(account: str, **fields: Any) -> dict[str, Any]:
    now = datetime(2026, 12, 4, 21, 30, 0, 123456, tzinfo=UTC)
    return message_row(
        sid=new_sid("SM"),
        account_sid=account,
        to=US_MOBILE,
        status="queued",
        expires_at=now + timedelta(hours=10),
        date_created=now,
        **fields,
    )


@pytest.fixture
def account(engine: Engine) -> str:
    return Accounts(engine, TEST_CIPHER).create("rows").sid


def test_a_time_is_stored_on_sqlite_as_sqlalchemys_datetime_stores_it() -> None:
    """Raw rows and the ORM's rows share one column: the text must be the same for the same moment."""
    bound = DATETIME().bind_processor(sqlite.dialect())
    assert bound is not None
    for moment in (
        datetime(2026, 12, 4, 21, 30, tzinfo=UTC),
        datetime(2026, 12, 4, 21, 30, 0, 7, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
    ):
        assert sqlite_time(moment) == bound(moment)


def test_a_time_of_another_zone_is_stored_as_its_utc_moment() -> None:
    assert sqlite_time(datetime(2026, 12, 4, 16, 30, tzinfo=NEW_YORK)) == "2026-12-04 21:30:00.000000"


def test_a_row_builds_one_tuple_in_column_order_with_times_and_json_converted() -> None:
    batch = Batch(queue._INSERT)
    row = message("AC1", reasons=REASONS)
    [values] = batch.tuples(sqlite.dialect(), [row])
    assert len(values) == len(batch.columns) and "seq" not in batch.columns
    stored = dict(zip(batch.columns, values, strict=True))
    assert stored["date_created"] == stored["date_updated"] == "2026-12-04 21:30:00.123456"
    assert stored["reasons"].startswith('{"decided_at":"2026-12-04T21:30:00Z",')
    assert stored["sid"] == row["sid"] and stored["send_at"] is None


def test_on_postgresql_a_row_keeps_its_aware_times_for_the_driver() -> None:
    [values] = Batch(queue._INSERT).tuples(postgresql.dialect(), [message("AC1")])
    assert datetime(2026, 12, 4, 21, 30, 0, 123456, tzinfo=UTC) in values


def test_a_statement_compiles_to_positional_sql_for_each_backend() -> None:
    batch = Batch(queue._INSERT)
    assert batch.sql(sqlite.dialect()).count("?") == len(batch.columns)
    assert batch.sql(postgresql.dialect()).count("%s") == len(batch.columns)


def test_a_time_without_its_zone_is_refused_and_nothing_is_written(engine: Engine, account: str) -> None:
    with engine.begin() as connection, pytest.raises(ValueError, match="zone"):
        queue.insert_messages(connection, [message(account, send_at=datetime(2026, 12, 4, 21, 30))])
    with Session(engine) as session:
        assert session.execute(select(Message)).first() is None


def test_messages_written_as_tuples_read_back_through_the_orm_unchanged(engine: Engine, account: str) -> None:
    rows = [message(account, reasons=REASONS), message(account, send_at=datetime(2026, 12, 5, 9, tzinfo=NEW_YORK))]
    with engine.begin() as connection:
        queue.insert_messages(connection, rows)
    with Session(engine) as session:
        read = {m.sid: m for m in session.execute(select(Message)).scalars()}
    for row in rows:
        kept = read[row["sid"]]
        for name in ("account_sid", "to", "status", "date_created", "expires_at", "send_at", "reasons", "priority"):
            assert getattr(kept, name) == row[name], name


def test_kept_reasons_read_as_the_same_sentences(engine: Engine, account: str) -> None:
    row = message(account, reasons=REASONS)
    with engine.begin() as connection:
        queue.insert_messages(connection, [row])
        kept = connection.execute(select(core_table(Message).c.reasons)).scalar_one()
    assert readable(kept) == readable(REASONS)
    assert (
        readable(kept)["gates"][0]["reason"]
        == f"{US_MOBILE} has not opted out of the Messaging Service MG1 (sms) nor of the whole account"
    )


def test_a_time_written_as_a_tuple_compares_equal_to_the_same_time_bound_by_sqlalchemy(
    engine: Engine, account: str
) -> None:
    """Claims and expiry compare stored times with times SQLAlchemy binds (`next_attempt_at <= now`)."""
    due = datetime(2026, 12, 4, 21, 30, 0, 500, tzinfo=UTC)
    row = delivery_row(
        kind="status_callback", account_sid=account, ordering_key="k", url="http://x/", params=[], now=due
    )
    with engine.begin() as connection:
        deliveries.write(connection, [row])
        table = core_table(Delivery)
        assert connection.execute(select(table.c.id).where(table.c.next_attempt_at == due)).first() is not None
        assert connection.execute(select(table.c.id).where(table.c.next_attempt_at < due)).first() is None


def test_a_receipt_written_twice_raises_sqlalchemys_integrity_error(engine: Engine) -> None:
    """The writer runs a job once more on IntegrityError (another process wrote the key first)."""
    receipt = {"provider": "twilio", "provider_sid": "SM1", "message_sid": "SM2", "date_created": datetime.now(UTC)}
    with engine.begin() as connection:
        consent.write_receipts(connection, [receipt])
    with engine.begin() as connection, pytest.raises(IntegrityError):
        consent.write_receipts(connection, [receipt])


def test_an_older_consent_state_written_as_tuples_leaves_a_newer_one_alone(engine: Engine, account: str) -> None:
    newer = datetime(2026, 12, 4, 21, 30, tzinfo=UTC)
    key = {"account_sid": account, "service_sid": "*", "number": US_MOBILE, "channel": "sms"}
    with engine.begin() as connection:
        consent.upsert_states(connection, [key | {"opted_out": True, "date_updated": newer}])
        consent.upsert_states(connection, [key | {"opted_out": False, "date_updated": newer - timedelta(seconds=1)}])
    with Session(engine) as session:
        state = session.execute(select(OptOut)).scalar_one()
    assert state.opted_out is True and state.date_updated == newer
