"""The message queue's writes: message rows in, and a status change's read, event and update.

Dispatch and the inbound path run these for every message, so each statement is built once, at
import (building one costs more than running it), and the functions only bind values.  They run
in the caller's transaction (a writer job) and never commit.
"""

from __future__ import annotations

from datetime import datetime
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
    .where(_M.c.sid == bindparam("ref"))
    .with_for_update()
)  # processes changing one message's status take turns
_REPORTED_BY_SID = select(_M.c.sid, _M.c.provider).where(_M.c.sid == bindparam("ref"))
_REPORTED_BY_PROVIDER_SID = select(_M.c.sid, _M.c.provider).where(_M.c.provider_sid == bindparam("provider_sid"))
_UPDATE = update(_M).where(_M.c.sid == bindparam("ref"))
_EVENT = insert(core_table(MessageEvent))
_UPDATES: dict[frozenset[str], Any] = {}


def insert_messages(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Write whole message rows (`outbox.messages.message_row`), however many, with one `executemany`."""
    _MESSAGES.write(connection, rows)


def current(connection: Connection, sid: str) -> AnyRow | None:
    """What a status change of message `sid` reads, locked until the transaction ends."""
    return connection.execute(_CURRENT, {"ref": sid}).first()


def reported(connection: Connection, reference: str | None, provider_sid: str) -> AnyRow | None:
    """(sid, provider) of the message a status report names: by our `ref`, else by the provider's id."""
    return (
        connection.execute(_REPORTED_BY_SID, {"ref": reference})
        if reference
        else connection.execute(_REPORTED_BY_PROVIDER_SID, {"provider_sid": provider_sid})
    ).first()


def add_event(
    connection: Connection, sid: str, status: str, *, error_code: int | None, source: str, applied: bool, at: datetime
) -> None:
    connection.execute(
        _EVENT,
        {
            "message_sid": sid,
            "status": status,
            "error_code": error_code,
            "source": source,
            "applied": applied,
            "at": at,
        },
    )


def update_message(connection: Connection, sid: str, values: dict[str, Any]) -> None:
    """Write `values` to message `sid`, with the UPDATE for that set of columns built once (a handful occur)."""
    columns = frozenset(values)
    statement = _UPDATES.get(columns)
    if statement is None:
        statement = _UPDATES[columns] = _UPDATE.values(**{c: bindparam(c) for c in columns})
    connection.execute(statement, {"ref": sid, **values})
