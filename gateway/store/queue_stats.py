"""The queue: as a whole for `/metrics` (per sender, what waits and since when), one account's
senders for the console's queue page, and the counts `outbox.backlog` keeps in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection, Row

from gateway.lifecycle import Status
from gateway.store.tables import Message, MessageEvent, Sender, StickyMapping, core_table
from gateway.store.traffic import tail_floor

_M = core_table(Message)
_S = core_table(Sender)
_K = core_table(StickyMapping)

_WAITING = (
    select(_M.c.sender_sid, func.count().label("messages"), func.min(_M.c.date_created).label("oldest"))
    .where(_M.c.status.in_((Status.QUEUED.value, Status.SENDING.value)))  # ix_message_expiry
    .group_by(_M.c.sender_sid)
    .subquery()
)
_BY_SENDER = select(_WAITING.c.sender_sid, _WAITING.c.messages, _WAITING.c.oldest, _S.c.mps).join(
    _S, _S.c.sid == _WAITING.c.sender_sid
)


def queue_by_sender(connection: Connection) -> Sequence[Row[Any, Any, Any, Any]]:
    """(sender_sid, messages, oldest, mps) for each sender with messages queued or being sent."""
    return connection.execute(_BY_SENDER).all()


# -- one account's senders, for the console's queue page --------------------------------------

PRIORITIES = (0, 1)  # replies and confirmations, then bulk (`Message.priority`)
_V = core_table(MessageEvent)


def oldest_queued(connection: Connection, sender_sid: str) -> datetime | None:
    """When the sender's oldest waiting message was accepted: the head of each priority's queue
    (the first row of `ix_message_queue` per priority)."""
    heads = []
    for priority in PRIORITIES:
        first = (
            select(func.min(_M.c.seq))
            .where(_M.c.sender_sid == sender_sid, _M.c.status == "queued", _M.c.priority == priority)
            .scalar_subquery()
        )
        row = connection.execute(select(_M.c.date_created).where(_M.c.seq == first)).first()
        if row is not None:
            heads.append(row[0])
    return min(heads) if heads else None


def sent_since(connection: Connection, account_sid: str, since: datetime) -> dict[str, tuple[int, int]]:
    """Messages and segments each of the account's senders handed to its provider since `since`.

    Reads `message_event` backwards from its newest row, a chunk at a time, and stops at the first
    chunk wholly older than `since` (ids follow time closely; a whole chunk absorbs the small
    disorder of concurrent writers), so the cost follows the traffic of that time."""
    floor = tail_floor(connection, _V, _V.c.at, since)
    rows = connection.execute(
        select(_M.c.sender_sid, func.count(), func.sum(_M.c.num_segments))
        .select_from(_V.join(_M, _M.c.sid == _V.c.message_sid))
        .where(_V.c.id >= floor, _V.c.status == "sent", _V.c.at >= since, _M.c.account_sid == account_sid)
        .group_by(_M.c.sender_sid)
    )
    return {sender_sid: (int(messages), int(segments)) for sender_sid, messages, segments in rows}


_BACKLOG = (
    select(_M.c.sender_sid, func.count(), func.sum(_M.c.num_segments))
    .where(_M.c.status.in_((Status.QUEUED.value, Status.SENDING.value)))
    .group_by(_M.c.sender_sid)
)


def backlog(connection: Connection) -> Sequence[Row[Any, Any, Any]]:
    """(sender sid, messages, segments) of what is queued or sending, per sender."""
    return connection.execute(_BACKLOG).all()


_STICKY = (
    select(_K.c.sender_sid, func.count()).where(_K.c.service_sid == bindparam("service")).group_by(_K.c.sender_sid)
)


def sticky_counts(connection: Connection, service_sid: str) -> dict[str, int]:
    """The service's sticky mappings per sender."""
    return {sid: int(n) for sid, n in connection.execute(_STICKY, {"service": service_sid})}
