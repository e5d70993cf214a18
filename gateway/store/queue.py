"""The message queue's writes: message rows in, and status changes' read, events and updates.

Dispatch and the inbound path run these for every message, so each statement is built once, at
import (building one costs more than running it), and the functions only bind values.  Status
changes go set by set (a pacer round's outcomes, the status webhooks that arrived together): one
read of all their rows, one `executemany` of their events, one of their updates per set of
columns.  They run in the caller's transaction (a writer job) and never commit.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from gateway.store.rows import Batch
from gateway.store.tables import AnyRow, Message, MessageEvent, core_table

_M = core_table(Message)

_INSERT = insert(_M)
_MESSAGES = Batch(_INSERT)
_CURRENT = (
    select(
        _M.c.sid,
        _M.c.status,
        _M.c.sender_sid,
        _M.c.num_segments,
        _M.c.status_callback,
        _M.c.account_sid,
        _M.c.service_sid,
        _M.c.sender,
        _M.c.to,
        _M.c.error_code,
        _M.c.provider_sid,
        _M.c.request_id,
    )
    .where(_M.c.sid.in_(bindparam("refs", expanding=True)))
    .order_by(_M.c.sid)
    .with_for_update()
)  # processes changing one message's status take turns; locked in sid order, so two sets cannot deadlock
_REPORTED_BY_SID = select(_M.c.sid, _M.c.provider).where(_M.c.sid.in_(bindparam("refs", expanding=True)))
_REPORTED_BY_PROVIDER_SID = select(_M.c.sid, _M.c.provider, _M.c.provider_sid).where(
    _M.c.provider_sid.in_(bindparam("provider_sids", expanding=True))
)
_UPDATE = update(_M).where(_M.c.sid == bindparam("ref"))
_EVENT = insert(core_table(MessageEvent))
_UPDATES: dict[frozenset[str], Any] = {}


def insert_messages(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Write whole message rows (`outbox.messages.message_row`), however many, with one `executemany`."""
    _MESSAGES.write(connection, rows)


def current(connection: Connection, sids: Collection[str]) -> dict[str, AnyRow]:
    """What status changes of messages `sids` read, by sid, locked until the transaction ends."""
    return {row.sid: row for row in connection.execute(_CURRENT, {"refs": sorted(sids)})}


def reported(
    connection: Connection, references: Collection[str], provider_sids: Collection[str]
) -> tuple[dict[str, AnyRow], dict[str, AnyRow]]:
    """The (sid, provider) rows of the messages status reports name, by our `ref` and by the
    provider's id: one statement for each kind of name the reports use."""
    by_sid = (
        {row.sid: row for row in connection.execute(_REPORTED_BY_SID, {"refs": sorted(references)})}
        if references
        else {}
    )
    by_provider_sid = (
        {
            row.provider_sid: row
            for row in connection.execute(_REPORTED_BY_PROVIDER_SID, {"provider_sids": sorted(provider_sids)})
        }
        if provider_sids
        else {}
    )
    return by_sid, by_provider_sid


def add_events(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Log status reports (`message_sid`, `status`, `error_code`, `source`, `applied`, `at`): one `executemany`."""
    if rows:
        connection.execute(_EVENT, rows)


def update_messages(connection: Connection, updates: dict[str, dict[str, Any]]) -> None:
    """Write each message's new values (sid → columns), one `executemany` per set of columns
    (a round of sends has one: status, date_updated, date_sent, provider_sid), with the UPDATE
    for each set built once (a handful occur)."""
    by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
    for sid, values in updates.items():
        by_columns.setdefault(frozenset(values), []).append({"ref": sid, **values})
    for columns, rows in by_columns.items():
        statement = _UPDATES.get(columns)
        if statement is None:
            statement = _UPDATES[columns] = _UPDATE.values(**{c: bindparam(c) for c in columns})
        connection.execute(statement, rows)
