"""Opt-out lists as CSV: `gateway optouts export|import`, and the import's bulk writes."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import Engine

from gateway.cli_optouts import register
from gateway.compliance.optouts import Consent
from gateway.orchestration.consent import record_consent
from gateway.outbox.backlog import Backlog
from gateway.settings import Settings
from gateway.store.db import make_engine, migrate, unit_of_work, utcnow
from gateway.store.tables import Account, ConsentEvent, Message, OptOut, Service
from gateway.transfer import csv_chunks, import_csv, parse_number
from tests.conftest import DE_MOBILE, FR_MOBILE, GB_MOBILE, JP_MOBILE, US_MOBILE

ACCOUNT = "AC" + "a" * 32
SERVICE = "MG" + "b" * 32
HEADER = "phone_number,scope,channel,state,time,source\n"


def make_database(url: str) -> tuple[Settings, Engine]:
    """A migrated database holding ACCOUNT and its service SERVICE."""
    migrate(url)
    engine = make_engine(url)
    now = utcnow()
    with unit_of_work(engine) as session:
        session.add(Account(sid=ACCOUNT, auth_token="t" * 32, date_created=now))
        session.flush()
        session.add(Service(sid=SERVICE, account_sid=ACCOUNT, friendly_name="Acme", date_created=now, date_updated=now))
    return Settings(database_url=url), engine


@pytest.fixture
def database(database_url: str):  # type: ignore[no-untyped-def]
    """SQLite and PostgreSQL: the import's upsert is written per dialect."""
    settings, engine = make_database(database_url)
    yield settings, engine
    engine.dispose()


def run(settings: Settings, *argv: str) -> int:
    """`gateway optouts …` through the registered parser, as the gateway command will call it."""
    parser = argparse.ArgumentParser(prog="gateway")
    register(parser.add_subparsers(required=True))
    args = parser.parse_args(["optouts", *argv])
    result: int = args.handler(args, settings)
    return result


def consent(engine: Engine, number: str, opted_out: bool, at: datetime, scope: str = "*", channel: str = "sms") -> None:
    with unit_of_work(engine) as session:
        record_consent(
            session,
            Consent(
                ACCOUNT,
                scope,
                number,
                channel,
                opted_out=opted_out,
                source="keyword",
                keyword="STOP" if opted_out else "START",
            ),
            now=at,
            backlog=Backlog(),
        )


def states(engine: Engine) -> set[tuple[str, str, str, bool]]:
    with engine.connect() as connection:
        return {(r.number, r.service_sid, r.channel, r.opted_out) for r in connection.execute(select(OptOut))}


def test_export_round_trips_through_import(database, tmp_path, capsys):
    """A list exported from one database and imported into a fresh one exports the same rows again."""
    settings, engine = database
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    consent(engine, FR_MOBILE, True, moment)
    consent(engine, DE_MOBILE, True, moment + timedelta(hours=1), scope=SERVICE)
    consent(engine, JP_MOBILE, True, moment, channel="whatsapp")
    consent(engine, GB_MOBILE, True, moment)
    consent(engine, GB_MOBILE, False, moment + timedelta(days=1))
    exported = tmp_path / "out.csv"
    assert run(settings, "export", str(exported), "--account", ACCOUNT) == 0
    fresh_settings, fresh = make_database(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert run(fresh_settings, "import", str(exported), "--account", ACCOUNT) == 0
    again = "".join(csv_chunks(fresh, ACCOUNT))
    fresh.dispose()

    def without_source(text: str) -> list[str]:
        return [line.rsplit(",", 1)[0] for line in text.splitlines()]

    assert without_source(again) == without_source(exported.read_text()) and len(again.splitlines()) == 5
    assert all(line.endswith(",import") for line in again.splitlines()[1:])
    assert "imported 4, unchanged 0, skipped 0" in capsys.readouterr().out


def test_importing_an_export_into_its_own_account_changes_nothing(database, tmp_path, capsys):
    """Every row is already the number's state: counted unchanged, no consent event, and the next
    export is the same file, each row keeping its own source."""
    settings, engine = database
    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    consent(engine, FR_MOBILE, True, moment)
    consent(engine, DE_MOBILE, True, moment, scope=SERVICE)
    consent(engine, GB_MOBILE, True, moment)
    consent(engine, GB_MOBILE, False, moment + timedelta(days=1))
    exported = tmp_path / "out.csv"
    assert run(settings, "export", str(exported), "--account", ACCOUNT) == 0
    with engine.connect() as connection:
        events = connection.execute(select(ConsentEvent)).all()
    assert run(settings, "import", str(exported), "--account", ACCOUNT) == 0
    assert "imported 0, unchanged 3, skipped 0" in capsys.readouterr().out
    with engine.connect() as connection:
        assert connection.execute(select(ConsentEvent)).all() == events
    assert "".join(csv_chunks(engine, ACCOUNT)) == exported.read_text()


def test_a_file_changing_a_number_twice_records_both_changes_in_order(database):
    """Within one chunk each row is compared with the state the row before it left: out, in, in
    is two changes and one unchanged row, and the number ends opted in."""
    _, engine = database
    result = import_csv(
        engine,
        ACCOUNT,
        [
            HEADER,
            f"{US_MOBILE},,sms,opted_out,2024-05-01T00:00:00Z,x\n",
            f"{US_MOBILE},,sms,opted_in,2024-05-02T00:00:00Z,x\n",
            f"{US_MOBILE},,sms,opted_in,2024-05-03T00:00:00Z,x\n",
        ],
        now=utcnow(),
        report=pytest.fail,
    )
    assert (result.imported, result.unchanged) == (2, 1)
    with engine.connect() as connection:
        assert [e.opted_out for e in connection.execute(select(ConsentEvent).order_by(ConsentEvent.id))] == [
            True,
            False,
        ]
    assert states(engine) == {(US_MOBILE, "*", "sms", False)}


def test_import_reports_bad_rows_with_line_numbers_and_keeps_going(database, tmp_path, capsys):
    """Each bad row is reported as FILE:LINE: why, skipped, and the rows after it are still imported."""
    settings, engine = database
    source = tmp_path / "list.csv"
    source.write_text(
        HEADER
        + "\n".join(
            [
                f"{US_MOBILE},,sms,opted_out,,carrier",
                "+15558675310,,sms,opted_out,,carrier",
                f"{FR_MOBILE},,sms,unsubscribed,,carrier",
                f"{FR_MOBILE},MG{'9' * 32},sms,opted_out,,carrier",
                f"{FR_MOBILE},,sms,opted_out",
                f"{FR_MOBILE},,sms,opted_out,last tuesday,carrier",
                f"{DE_MOBILE},,sms,opted_out,2024-05-01T12:00:00Z,carrier",
            ]
        )
        + "\n"
    )
    assert run(settings, "import", str(source), "--account", ACCOUNT) == 1
    captured = capsys.readouterr()
    for line, why in (
        (3, "invalid phone number"),
        (4, "unknown state"),
        (5, "unknown scope"),
        (6, "expected 6 columns"),
        (7, "invalid time"),
    ):
        assert f"{source}:{line}: {why}" in captured.err
    assert "imported 2, unchanged 0, skipped 5" in captured.out
    assert states(engine) == {(US_MOBILE, "*", "sms", True), (DE_MOBILE, "*", "sms", True)}


def test_import_of_an_unknown_account_stops_before_writing(database, tmp_path, capsys):
    """An account that does not exist ends the import with exit 2 and nothing written."""
    settings, engine = database
    source = tmp_path / "list.csv"
    source.write_text(HEADER + f"{US_MOBILE},,sms,opted_out,,carrier\n")
    assert run(settings, "import", str(source), "--account", "AC" + "0" * 32) == 2
    assert "does not exist" in capsys.readouterr().err and states(engine) == set()


def test_empty_scope_takes_the_service_option(database, tmp_path, capsys):
    """--service scopes the rows whose scope cell is empty; an explicit account cell stays account-wide."""
    settings, engine = database
    source = tmp_path / "list.csv"
    source.write_text(HEADER + f"{US_MOBILE},,sms,opted_out,,x\n{FR_MOBILE},account,sms,opted_out,,x\n")
    assert run(settings, "import", str(source), "--account", ACCOUNT, "--service", SERVICE) == 0
    assert states(engine) == {(US_MOBILE, SERVICE, "sms", True), (FR_MOBILE, "*", "sms", True)}


def test_import_writes_events_with_source_import(database):
    """Every imported row appends a consent event with source import, at the row's time."""
    _, engine = database
    import_csv(
        engine,
        ACCOUNT,
        [HEADER, f"{US_MOBILE},,,opted_out,2024-05-01T12:00:00Z,carrier\n"],
        now=utcnow(),
        report=pytest.fail,
    )
    with engine.connect() as connection:
        [event] = connection.execute(select(ConsentEvent)).all()
    assert (event.source, event.opted_out, event.at) == ("import", True, datetime(2024, 5, 1, 12, tzinfo=UTC))


def test_import_does_not_undo_a_newer_change(database):
    """An imported opt-out older than the number's latest START leaves the number opted in."""
    _, engine = database
    consent(engine, US_MOBILE, False, datetime(2024, 6, 1, tzinfo=UTC))
    import_csv(
        engine,
        ACCOUNT,
        [HEADER, f"{US_MOBILE},,sms,opted_out,2024-05-01T00:00:00Z,carrier\n"],
        now=utcnow(),
        report=pytest.fail,
    )
    assert states(engine) == {(US_MOBILE, "*", "sms", False)}


def test_an_imported_row_older_than_the_state_records_nothing(database):
    """The row that cannot change the state is counted unchanged and appends no event."""
    _, engine = database
    consent(engine, US_MOBILE, False, datetime(2024, 6, 1, tzinfo=UTC))
    result = import_csv(
        engine,
        ACCOUNT,
        [HEADER, f"{US_MOBILE},,sms,opted_out,2024-05-01T00:00:00Z,carrier\n"],
        now=utcnow(),
        report=pytest.fail,
    )
    assert (result.imported, result.unchanged) == (0, 1)
    with engine.connect() as connection:
        assert [e.source for e in connection.execute(select(ConsentEvent))] == ["keyword"]


def test_import_cancels_messages_queued_to_imported_numbers(database):
    """A message still queued to a number the import opts out is canceled with 21610; others stay queued."""
    _, engine = database
    now = utcnow()
    with unit_of_work(engine) as session:
        for index, to in enumerate((US_MOBILE, GB_MOBILE)):
            session.add(
                Message(
                    sid=f"SM{index:032x}",
                    account_sid=ACCOUNT,
                    sender_sid="PN" + "0" * 32,
                    to=to,
                    status="queued",
                    expires_at=now + timedelta(hours=1),
                    date_created=now,
                    date_updated=now,
                )
            )
    import_csv(engine, ACCOUNT, [HEADER, f"{US_MOBILE},,sms,opted_out,,carrier\n"], now=now, report=pytest.fail)
    with engine.connect() as connection:
        found = {(m.to, m.status, m.error_code) for m in connection.execute(select(Message))}
    assert found == {(US_MOBILE, "canceled", 21610), (GB_MOBILE, "queued", None)}


def test_export_to_stdout_writes_the_csv(database, capsys):
    """`export -` writes the CSV to stdout and its count to stderr."""
    settings, engine = database
    consent(engine, FR_MOBILE, True, datetime(2024, 5, 1, tzinfo=UTC))
    assert run(settings, "export", "-", "--account", ACCOUNT) == 0
    captured = capsys.readouterr()
    assert captured.out == HEADER + f"{FR_MOBILE},account,sms,opted_out,2024-05-01T00:00:00Z,keyword\n"
    assert "exported 1" in captured.err


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@given(region=st.sampled_from(REGIONS), digits=st.integers(min_value=0, max_value=999), kind=st.booleans())
def test_fast_number_check_agrees_with_phonenumbers_parse(region, digits, kind):
    """The import's canonical-E.164 shortcut accepts exactly what phonenumbers.parse + is_valid_number accept."""
    example = phonenumbers.example_number_for_type(
        region, phonenumbers.PhoneNumberType.MOBILE if kind else phonenumbers.PhoneNumberType.FIXED_LINE
    )
    if example is None:
        return
    text = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    text = text[:-3] + f"{digits:03d}" if len(text) > 6 else text
    parsed = phonenumbers.parse(text, None)
    expected = (
        phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if phonenumbers.is_valid_number(parsed)
        else None
    )
    assert (parse_number(text) or (None,))[0] == expected
