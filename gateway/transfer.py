"""Opt-out lists in and out as CSV: `phone_number,scope,channel,state,time,source`.

Export streams the account's `opt_out` rows in key order, a chunk at a time, so a list of
millions never sits in memory; `source` is the source of the row's latest consent event.

Import is built for lists of millions (a carrier's or a former provider's opt-out file), so it
does not go through `record_consent` row by row, but takes the same steps set by set:

1. per chunk of rows, one transaction: the states the rows meet read by number, a few hundred
   numbers a query; then, for the rows that change consent, the consent events appended with one
   executemany (source "import") and the `opt_out` state upserted with one executemany of the
   dialect's `INSERT … ON CONFLICT DO UPDATE`.  As with `record_consent`, a row that does not
   change consent records nothing: one in the state the number is already in (so importing an
   export again is a no-op, and the export keeps each row's own source), and one older than the
   state it meets (the latest change wins, so an old list cannot undo a newer START);
2. at the end, one query for still-pending messages to numbers the import left opted out (it
   scans the account's messages once, so it runs once, not per chunk), each affected
   (number, scope) then canceled by `cancel_pending` (there are few).

Chunks commit one by one, so a running gateway's writer is never locked out for long.  Bad rows
(invalid number, unknown state, scope or channel, bad time, wrong column count) are reported
with their line number and skipped; the import goes on.

Numbers are checked with phonenumbers alone.  A row already in canonical `+E164` form skips
`phonenumbers.parse` (half the cost) and goes straight to `is_valid_number`; anything else, or
anything that check refuses, takes the full parse, so both paths accept exactly the same rows.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import phonenumbers
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from gateway.channels import WHATSAPP
from gateway.compliance.optouts import ACCOUNT_WIDE, CHANNELS, Consent, event_row, state_row
from gateway.dates import iso8601
from gateway.orchestration.consent import cancel_pending
from gateway.outbox.backlog import Backlog
from gateway.store import consent as consent_rows
from gateway.store import optouts as optout_rows
from gateway.store.db import writer_engine
from gateway.store.optouts import Cursor

HEADER = ("phone_number", "scope", "channel", "state", "time", "source")
ACCOUNT_LABEL = "account"  # how "*" (account-wide) reads in JSON and CSV
OPTED_OUT, OPTED_IN = "opted_out", "opted_in"
STATES = {OPTED_OUT: True, OPTED_IN: False}
IMPORT_CHUNK = 50_000
EXPORT_CHUNK = 5_000

_COUNTRY_CODES = phonenumbers.COUNTRY_CODE_TO_REGION_CODE


def scope_label(scope: str) -> str:
    return ACCOUNT_LABEL if scope == ACCOUNT_WIDE else scope


def state_label(opted_out: bool) -> str:
    return OPTED_OUT if opted_out else OPTED_IN


# --- reading the state, for the API and the export --------------------------------------------


def encode_cursor(cursor: Cursor) -> str:
    """A PageToken for a composite key (`api.common.encode_token` carries integers only)."""
    return "PA" + base64.urlsafe_b64encode(json.dumps(list(cursor)).encode()).decode().rstrip("=")


def decode_cursor(token: str | None) -> Cursor | None:
    """The key a PageToken carries; a malformed token reads as the first page, as `decode_token`'s do."""
    if not token or not token.startswith("PA"):
        return None
    raw = token[2:]
    try:
        value = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(part, str) for part in value)):
        return None
    return value[0], value[1], value[2]


def csv_chunks(engine: Engine, account_sid: str, *, chunk_size: int = EXPORT_CHUNK) -> Iterator[str]:
    """The account's opt-outs as CSV text, header first, one string per chunk of rows.

    Each chunk is read in its own short transaction, keyed after the last row of the one before."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    after: Cursor | None = None
    while True:
        with engine.connect() as connection:
            rows = optout_rows.export_chunk(connection, account_sid, after, chunk_size)
        writer.writerows(
            (
                row.number,
                scope_label(row.service_sid),
                row.channel,
                state_label(row.opted_out),
                iso8601(row.date_updated),
                row.source or "",
            )
            for row in rows
        )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < chunk_size:
            return
        after = (rows[-1].service_sid, rows[-1].number, rows[-1].channel)


# --- parsing rows: pure --------------------------------------------------------------------------


class RowError(ValueError):
    """Why one CSV row cannot be imported."""


class TransferError(ValueError):
    """An import or export cannot start: unknown account or service, or no usable header."""


@dataclass(frozen=True)
class Row:
    number: str  # E.164
    scope: str  # "*", a service sid or a sender sid
    channel: str
    opted_out: bool
    at: datetime


def parse_number(raw: str) -> tuple[str, str] | None:
    """(E.164, channel) of a `+E164` or `whatsapp:+E164` value, or None when it is not a valid number."""
    channel = "sms"
    if raw.startswith(WHATSAPP):
        raw, channel = raw[len(WHATSAPP) :], "whatsapp"
    digits = raw[1:]
    if raw[:1] == "+" and digits.isascii() and digits.isdigit() and 4 <= len(digits) <= 15:
        for size in (1, 2, 3):  # country codes are prefix-free, as phonenumbers' own extraction relies on
            code = int(digits[:size])
            if code in _COUNTRY_CODES:
                national = digits[size:]
                if national[:1] not in ("", "0") and phonenumbers.is_valid_number(
                    phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
                ):
                    return raw, channel
                break
    if not raw.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), channel


def read_header(fields: list[str]) -> dict[str, int]:
    """Column name → index; phone_number and state are required, names are those of `HEADER`."""
    names = [field.strip().lower() for field in fields]
    unknown = [name for name in names if name not in HEADER]
    if unknown or "phone_number" not in names or "state" not in names or len(set(names)) != len(names):
        raise TransferError(
            f"the first line must be a header of {','.join(HEADER)} (phone_number and state "
            f"required), not {','.join(fields)!r}"
        )
    return {name: index for index, name in enumerate(names)}


def parse_row(
    fields: list[str], columns: dict[str, int], *, scopes: frozenset[str], default_scope: str, now: datetime
) -> Row:
    """One data row as a `Row`; raises `RowError` naming the first problem."""
    if len(fields) != len(columns):
        raise RowError(f"expected {len(columns)} columns, found {len(fields)}")

    def get(name: str) -> str:
        index = columns.get(name)
        return fields[index].strip() if index is not None else ""

    raw = get("phone_number")
    parsed = parse_number(raw)
    if parsed is None:
        raise RowError(f"invalid phone number {raw!r}")
    number, channel = parsed
    named = get("channel").lower()
    if named and named not in CHANNELS:
        raise RowError(f"unknown channel {named!r} (sms or whatsapp)")
    if named and channel == "whatsapp" and named != "whatsapp":
        raise RowError(f"{raw} is a WhatsApp address but the channel is {named!r}")
    state = get("state").lower()
    if state not in STATES:
        raise RowError(f"unknown state {state!r} (opted_out or opted_in)")
    scope = get("scope")
    if scope in (ACCOUNT_LABEL, ACCOUNT_WIDE):
        scope = ACCOUNT_WIDE
    elif not scope:
        scope = default_scope
    elif scope not in scopes:
        raise RowError(f"unknown scope {scope!r} (account, or a service or sender sid of the account)")
    return Row(number, scope, named or channel, STATES[state], _parse_time(get("time"), now))


def _parse_time(value: str, now: datetime) -> datetime:
    if not value:
        return now
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"invalid time {value!r} (ISO 8601, e.g. 2024-05-01T12:00:00Z)") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- importing: I/O ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    imported: int  # rows that changed consent
    unchanged: int  # valid rows that did not: already in that state, or older than it
    skipped: int  # bad rows


def import_csv(
    engine: Engine,
    account_sid: str,
    lines: Iterable[str],
    *,
    service_sid: str | None = None,
    now: datetime,
    report: Callable[[int, str], None],
    backlog: Backlog | None = None,
    chunk_size: int = IMPORT_CHUNK,
) -> ImportResult:
    """Import opt-out rows; bad rows go to `report(line, message)` and are skipped.

    An empty scope cell means `service_sid`, or the whole account without it.  Raises
    `TransferError` before writing anything when the account, the service or the header is wrong."""
    with engine.connect() as connection:
        check_account(connection, account_sid)
        scopes = optout_rows.account_scopes(connection, account_sid)
    if service_sid is not None and service_sid not in scopes:
        raise TransferError(f"{service_sid} is not a Messaging Service or sender of account {account_sid}")
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise TransferError("the file is empty; it needs at least a header line")
    columns = read_header(header)
    default = service_sid or ACCOUNT_WIDE
    backlog = backlog if backlog is not None else Backlog()
    imported = valid = skipped = 0
    chunk: list[Row] = []
    with Session(writer_engine(engine), expire_on_commit=False) as session:  # takes the write lock up front
        watermark = optout_rows.last_event_id(session.connection())
        session.commit()
        for fields in reader:
            if not fields:
                continue  # a blank line
            try:
                chunk.append(parse_row(fields, columns, scopes=scopes, default_scope=default, now=now))
            except RowError as exc:
                report(reader.line_num, str(exc))
                skipped += 1
                continue
            if len(chunk) >= chunk_size:
                valid += len(chunk)
                imported += _write_chunk(session, account_sid, chunk)
                chunk = []
        if chunk:
            valid += len(chunk)
            imported += _write_chunk(session, account_sid, chunk)
        with session.begin():
            _cancel_pending(session, account_sid, watermark, now, backlog)
    return ImportResult(imported, valid - imported, skipped)


def check_account(connection: Connection, account_sid: str) -> None:
    if not optout_rows.account_exists(connection, account_sid):
        raise TransferError(f"account {account_sid} does not exist")


_STATE_READ = 500  # numbers per query reading the states a chunk meets (SQLite binds at most 32,766)

StateKey = tuple[str, str, str]  # (scope, number, channel)


def _changes(connection: Connection, account_sid: str, rows: list[Row]) -> list[Row]:
    """The rows that change consent, in file order: each is compared with the state before it,
    the one in the database or the one an earlier row of the chunk left."""
    numbers = sorted({row.number for row in rows})
    current: dict[StateKey, tuple[bool, datetime]] = {}
    for start in range(0, len(numbers), _STATE_READ):
        for found in optout_rows.states_of(connection, account_sid, numbers[start : start + _STATE_READ]):
            at = found.date_updated
            current[(found.service_sid, found.number, found.channel)] = (
                found.opted_out,
                at.replace(tzinfo=UTC) if at.tzinfo is None else at,
            )
    changes = []
    for row in rows:
        key = (row.scope, row.number, row.channel)
        before = current.get(key)
        if before is None or (before[0] != row.opted_out and before[1] <= row.at):
            current[key] = (row.opted_out, row.at)
            changes.append(row)
    return changes


def _write_chunk(session: Session, account_sid: str, chunk: list[Row]) -> int:
    """Record the chunk's changes of consent; returns how many rows changed it."""
    with session.begin():
        connection = session.connection()
        rows = _changes(connection, account_sid, chunk)
        if not rows:
            return 0
        changes = [
            (Consent(account_sid, row.scope, row.number, row.channel, row.opted_out, "import"), row.at) for row in rows
        ]
        consent_rows.write_events(connection, [event_row(consent, at) for consent, at in changes])
        consent_rows.upsert_states(connection, [state_row(consent, at) for consent, at in changes])
    return len(rows)


def _cancel_pending(session: Session, account_sid: str, watermark: int, now: datetime, backlog: Backlog) -> None:
    """Cancel what waits to go to numbers that import events after `watermark` left opted out."""
    found = optout_rows.imported_opt_outs(session.connection(), account_sid, watermark, ACCOUNT_WIDE)
    if found:
        cancel_pending(
            session,
            [
                (Consent(account_sid, scope, number, channel, opted_out=True, source="import"), now)
                for number, scope, channel in found
            ],
            backlog=backlog,
        )
