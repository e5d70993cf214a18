"""The console's own reads, in SQLAlchemy Core with bound parameters, each filtered by the account.

What the API already answers is asked of the API's functions (`api.optouts.number_events`,
`forwarding.dead_letters`); this module holds only what the console alone needs.  Every
statement is written for the indexes the tables have, so pages stay fast with millions of rows:

- a number's messages: `ix_message_recipient` (account_sid, to, status);
- recent messages: `ix_message_account_created` (account_sid, date_created), keyset-paged;
- the 30-day figures: one pass over the account's last 30 days of messages (the same index) and
  one over its consent events, grouped in the database;
- sends of the last minute: the newest `message_event` rows, read backwards by id until older
  than the minute, so the cost follows the traffic of that minute, not the size of the table;
- the oldest queued message of a sender: the first row of `ix_message_queue` per priority.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal_column, select, tuple_
from sqlalchemy.engine import Connection, Row

from gateway.compliance.gates import WHATSAPP
from gateway.store.tables import ConsentEvent, Message, MessageEvent, OptOut, Sender, Service, core_table

_M = core_table(Message)
_E = core_table(ConsentEvent)
_S = core_table(OptOut)
_V = core_table(MessageEvent)
_SENDER = core_table(Sender)
_SERVICE = core_table(Service)

INBOUND = "inbound"
PRIORITIES = (0, 1)  # replies and confirmations, then bulk (`Message.priority`)
PAGE = 50
TAIL_CHUNK = 2000


def _day(connection: Connection, column: Any) -> Any:
    """The UTC calendar day of a timestamp, as text `YYYY-MM-DD` on both backends (SQLite keeps UTC
    text; PostgreSQL would print a timestamptz in the session's time zone)."""
    if connection.dialect.name == "postgresql":
        return func.to_char(column.op("AT TIME ZONE")(literal_column("'UTC'")), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


# -- scopes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    sid: str
    label: str
    kind: str  # service | sender


def scopes(connection: Connection, account_sid: str) -> list[Scope]:
    """The account's Messaging Services and senders: what an opt-out can be scoped to."""
    services = connection.execute(select(_SERVICE.c.sid, _SERVICE.c.friendly_name)
                                  .where(_SERVICE.c.account_sid == account_sid).order_by(_SERVICE.c.friendly_name))
    senders = connection.execute(select(_SENDER.c.sid, _SENDER.c.address)
                                 .where(_SENDER.c.account_sid == account_sid).order_by(_SENDER.c.address))
    return ([Scope(row.sid, row.friendly_name, "service") for row in services]
            + [Scope(row.sid, row.address, "sender") for row in senders])


def sender_countries(connection: Connection, account_sid: str) -> list[str]:
    """The countries of the account's senders, most senders first: where a local number likely is."""
    rows = connection.execute(select(_SENDER.c.country, func.count()).where(
        _SENDER.c.account_sid == account_sid, _SENDER.c.country.is_not(None))
        .group_by(_SENDER.c.country).order_by(func.count().desc(), _SENDER.c.country))
    return [row[0] for row in rows]


# -- numbers ------------------------------------------------------------------------------------


def _newest_first(connection: Connection, *, by_recipient: bool = False) -> tuple[Any, ...]:
    """ORDER BY for newest first.  For one recipient's messages on SQLite, the order is written as
    an expression: without statistics SQLite would otherwise walk `ix_message_account_created`
    for its order, reading the whole account to find one number's messages, where sorting the few
    rows `ix_message_recipient` finds is the right plan (PostgreSQL's planner sees it from its
    statistics).  `text || ''` sorts exactly as the stored UTC text does."""
    if by_recipient and connection.dialect.name == "sqlite":
        return _M.c.date_created.op("||")(literal_column("''")).desc(), _M.c.seq.desc()
    return _M.c.date_created.desc(), _M.c.seq.desc()


def messages_to(connection: Connection, account_sid: str, number: str, limit: int = 500) -> list[Row[Any]]:
    """Messages to the number on any channel, newest first (`ix_message_recipient`)."""
    return list(connection.execute(
        select(_M.c.sid, _M.c.to, _M.c.sender, _M.c.body, _M.c.status, _M.c.direction, _M.c.error_code,
               _M.c.service_sid, _M.c.sender_sid, _M.c.date_created, _M.c.date_sent)
        .where(_M.c.account_sid == account_sid, _M.c.to.in_([number, WHATSAPP + number]))
        .order_by(*_newest_first(connection, by_recipient=True)).limit(limit)))


def message_bodies(connection: Connection, account_sid: str, sids: Iterable[str]) -> dict[str, str]:
    """The texts of the account's messages `sids` (the words a person opted out with)."""
    wanted = sorted({sid for sid in sids if sid})
    if not wanted:
        return {}
    rows = connection.execute(select(_M.c.sid, _M.c.body).where(_M.c.account_sid == account_sid,
                                                                _M.c.sid.in_(wanted)))
    return {row.sid: row.body for row in rows}


# -- messages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    direction: str | None = None
    error_code: int | None = None
    to: str | None = None  # E.164: either channel
    sender: str | None = None  # "from"
    before: tuple[datetime, int] | None = None  # keyset: (date_created, seq) of the last row shown


def recent_messages(connection: Connection, account_sid: str, chosen: MessageFilter,
                    limit: int = PAGE) -> list[Row[Any]]:
    """The account's messages newest first, filtered; one more than `limit` says there is a next page."""
    query = select(_M.c.seq, _M.c.sid, _M.c.date_created, _M.c.direction, _M.c.sender, _M.c.to, _M.c.body,
                   _M.c.status, _M.c.error_code, _M.c.num_segments, _M.c.service_sid).where(
        _M.c.account_sid == account_sid)
    if chosen.status:
        query = query.where(_M.c.status == chosen.status)
    if chosen.direction:
        query = query.where(_M.c.direction == chosen.direction)
    if chosen.error_code is not None:
        query = query.where(_M.c.error_code == chosen.error_code)
    if chosen.to:
        query = query.where(_M.c.to.in_([chosen.to, WHATSAPP + chosen.to]))
    if chosen.sender:
        query = query.where(_M.c.sender.in_([chosen.sender, WHATSAPP + chosen.sender]))
    if chosen.before is not None:
        query = query.where(tuple_(_M.c.date_created, _M.c.seq) < tuple_(*chosen.before))
    order = _newest_first(connection, by_recipient=chosen.to is not None)
    return list(connection.execute(query.order_by(*order).limit(limit + 1)))


def message(connection: Connection, account_sid: str, sid: str) -> Row[Any] | None:
    return connection.execute(select(_M).where(_M.c.sid == sid, _M.c.account_sid == account_sid)).first()


def message_events(connection: Connection, message_sid: str) -> list[Row[Any]]:
    """Every status report about the message, applied or not, in order (call after `message` checked the owner)."""
    return list(connection.execute(select(_V).where(_V.c.message_sid == message_sid).order_by(_V.c.id)))


# -- overview -----------------------------------------------------------------------------------


def message_totals(connection: Connection, account_sid: str, since: datetime, until: datetime) -> list[Row[Any]]:
    """Messages accepted in [since, until) counted by day, direction, status and service, in one pass."""
    day = _day(connection, _M.c.date_created).label("day")
    return list(connection.execute(
        select(day, _M.c.direction, _M.c.status, _M.c.service_sid, func.count().label("count"))
        .where(_M.c.account_sid == account_sid, _M.c.date_created >= since, _M.c.date_created < until)
        .group_by(day, _M.c.direction, _M.c.status, _M.c.service_sid)))


_CONSENT_COLUMNS = (_E.c.opted_out, _E.c.source, _E.c.scope)


def consent_totals(connection: Connection, account_sid: str, since: datetime, until: datetime) -> list[Row[Any]]:
    """Consent changes in [since, until) by day, direction of the change, source and scope (reads
    every event of the account: cache it, see `recent_consent_totals`)."""
    day = _day(connection, _E.c.at).label("day")
    return list(connection.execute(
        select(day, *_CONSENT_COLUMNS, func.count().label("count"))
        .where(_E.c.account_sid == account_sid, _E.c.at >= since, _E.c.at < until)
        .group_by(day, *_CONSENT_COLUMNS)))


def recent_consent_totals(connection: Connection, account_sid: str, since: datetime) -> list[Row[Any]]:
    """`consent_totals` from `since` on, reading events newest id first until a chunk is wholly older
    (events are appended as they happen, so the cost follows the recent events, not the table)."""
    floor = _tail_floor(connection, _E, _E.c.at, since)
    day = _day(connection, _E.c.at).label("day")
    return list(connection.execute(
        select(day, *_CONSENT_COLUMNS, func.count().label("count"))
        .where(_E.c.id >= floor, _E.c.account_sid == account_sid, _E.c.at >= since)
        .group_by(day, *_CONSENT_COLUMNS)))


def _tail_floor(connection: Connection, table: Any, moment: Any, since: datetime) -> int:
    """The lowest id of the newest rows of `table` that may be at or after `since`."""
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
    return list(connection.execute(
        select(_M.c.error_code, _M.c.sender, prefix, func.min(recipient).label("sample"), func.count().label("count"))
        .where(_M.c.account_sid == account_sid, _M.c.date_created >= since, _M.c.date_created < until,
               _M.c.error_code.is_not(None), _M.c.direction != INBOUND)
        .group_by(_M.c.error_code, _M.c.sender, prefix)))


def send_latencies(connection: Connection, account_sid: str, since: datetime, limit: int = 1000) -> list[float]:
    """Seconds from accepted to handed to the provider, for the newest sent messages since `since`."""
    rows = connection.execute(
        select(_M.c.date_created, _M.c.date_sent)
        .where(_M.c.account_sid == account_sid, _M.c.date_created >= since, _M.c.date_sent.is_not(None))
        .order_by(_M.c.date_created.desc()).limit(limit))
    return [max(0.0, (sent - created).total_seconds()) for created, sent in rows]


# -- queues -------------------------------------------------------------------------------------


def senders(connection: Connection, account_sid: str) -> list[Row[Any]]:
    return list(connection.execute(
        select(_SENDER.c.sid, _SENDER.c.address, _SENDER.c.kind, _SENDER.c.country, _SENDER.c.mps,
               _SENDER.c.service_sid, _SENDER.c.provider)
        .where(_SENDER.c.account_sid == account_sid).order_by(_SENDER.c.address)))


def oldest_queued(connection: Connection, sender_sid: str) -> datetime | None:
    """When the sender's oldest waiting message was accepted: the head of each priority's queue."""
    heads = []
    for priority in PRIORITIES:
        first = (select(func.min(_M.c.seq)).where(_M.c.sender_sid == sender_sid, _M.c.status == "queued",
                                                  _M.c.priority == priority).scalar_subquery())
        row = connection.execute(select(_M.c.date_created).where(_M.c.seq == first)).first()
        if row is not None:
            heads.append(row[0])
    return min(heads) if heads else None


def sent_since(connection: Connection, account_sid: str, since: datetime) -> dict[str, tuple[int, int]]:
    """Messages and segments each of the account's senders handed to its provider since `since`.

    Reads `message_event` backwards from its newest row, a chunk at a time, and stops at the first
    chunk wholly older than `since` (ids follow time closely; a whole chunk absorbs the small
    disorder of concurrent writers)."""
    floor = _tail_floor(connection, _V, _V.c.at, since)
    rows = connection.execute(
        select(_M.c.sender_sid, func.count(), func.sum(_M.c.num_segments))
        .select_from(_V.join(_M, _M.c.sid == _V.c.message_sid))
        .where(_V.c.id >= floor, _V.c.status == "sent", _V.c.at >= since, _M.c.account_sid == account_sid)
        .group_by(_M.c.sender_sid))
    return {sender_sid: (int(messages), int(segments)) for sender_sid, messages, segments in rows}
