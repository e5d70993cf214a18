"""An account's traffic and consent over days, grouped in the database (the console's overview).

One pass over the account's messages of the window (`ix_message_account_created`) and one over
its consent events; what happened lately is read from the newest rows backwards (`tail_floor`),
so the cost follows the recent traffic, not the size of the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.engine import Connection, Row

from gateway.channels import WHATSAPP
from gateway.store.tables import ConsentEvent, Message, core_table

_M = core_table(Message)
_E = core_table(ConsentEvent)
INBOUND = "inbound"
TAIL_CHUNK = 2000


def _day(connection: Connection, column: Any) -> Any:
    """The UTC calendar day of a timestamp, as text `YYYY-MM-DD` on both backends (SQLite keeps UTC
    text; PostgreSQL would print a timestamptz in the session's time zone)."""
    if connection.dialect.name == "postgresql":
        return func.to_char(column.op("AT TIME ZONE")(literal_column("'UTC'")), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def message_totals(connection: Connection, account_sid: str, since: datetime, until: datetime) -> list[Row[Any]]:
    """Messages accepted in [since, until) counted by day, direction, status and service, in one pass."""
    day = _day(connection, _M.c.date_created).label("day")
    return list(
        connection.execute(
            select(day, _M.c.direction, _M.c.status, _M.c.service_sid, func.count().label("count"))
            .where(_M.c.account_sid == account_sid, _M.c.date_created >= since, _M.c.date_created < until)
            .group_by(day, _M.c.direction, _M.c.status, _M.c.service_sid)
        )
    )


_CONSENT_COLUMNS = (_E.c.opted_out, _E.c.source, _E.c.scope)


def consent_totals(connection: Connection, account_sid: str, since: datetime, until: datetime) -> list[Row[Any]]:
    """Consent changes in [since, until) by day, direction of the change, source and scope (reads
    every event of the account: cache it, see `recent_consent_totals`)."""
    day = _day(connection, _E.c.at).label("day")
    return list(
        connection.execute(
            select(day, *_CONSENT_COLUMNS, func.count().label("count"))
            .where(_E.c.account_sid == account_sid, _E.c.at >= since, _E.c.at < until)
            .group_by(day, *_CONSENT_COLUMNS)
        )
    )


def recent_consent_totals(connection: Connection, account_sid: str, since: datetime) -> list[Row[Any]]:
    """`consent_totals` from `since` on, reading events newest id first until a chunk is wholly older
    (events are appended as they happen, so the cost follows the recent events, not the table)."""
    floor = tail_floor(connection, _E, _E.c.at, since)
    day = _day(connection, _E.c.at).label("day")
    return list(
        connection.execute(
            select(day, *_CONSENT_COLUMNS, func.count().label("count"))
            .where(_E.c.id >= floor, _E.c.account_sid == account_sid, _E.c.at >= since)
            .group_by(day, *_CONSENT_COLUMNS)
        )
    )


def tail_floor(connection: Connection, table: Any, moment: Any, since: datetime) -> int:
    """The lowest id of the newest rows of `table` (appended as things happen, `moment` their time)
    that may be at or after `since`."""
    floor, before = 0, None
    while True:
        query = select(table.c.id, moment).order_by(table.c.id.desc()).limit(TAIL_CHUNK)
        if before is not None:
            query = query.where(table.c.id < before)
        rows = connection.execute(query).all()
        if not rows:
            return floor
        floor = int(rows[-1][0])
        if len(rows) < TAIL_CHUNK or all(row[1] < since for row in rows):
            return floor
        before = floor


def error_totals(connection: Connection, account_sid: str, since: datetime, until: datetime) -> list[Row[Any]]:
    """Failed messages accepted in [since, until) by error code, sender and the recipient's first
    digits (country and, in +1, area code), each group with one recipient to tell its country by."""
    recipient = func.replace(_M.c.to, WHATSAPP, "")
    prefix = func.substr(recipient, 1, 5).label("prefix")
    return list(
        connection.execute(
            select(
                _M.c.error_code, _M.c.sender, prefix, func.min(recipient).label("sample"), func.count().label("count")
            )
            .where(
                _M.c.account_sid == account_sid,
                _M.c.date_created >= since,
                _M.c.date_created < until,
                _M.c.error_code.is_not(None),
                _M.c.direction != INBOUND,
            )
            .group_by(_M.c.error_code, _M.c.sender, prefix)
        )
    )


def send_latencies(connection: Connection, account_sid: str, since: datetime, limit: int = 1000) -> list[float]:
    """Seconds from accepted to handed to the provider, for the newest sent messages since `since`."""
    rows = connection.execute(
        select(_M.c.date_created, _M.c.date_sent)
        .where(_M.c.account_sid == account_sid, _M.c.date_created >= since, _M.c.date_sent.is_not(None))
        .order_by(_M.c.date_created.desc())
        .limit(limit)
    )
    return [max(0.0, (sent - created).total_seconds()) for created, sent in rows]
