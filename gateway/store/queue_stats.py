"""The queue as a whole, for `/metrics`: per sender, what waits and since when."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Row

from gateway.lifecycle import Status
from gateway.store.tables import Message, Sender, core_table

_M = core_table(Message)
_S = core_table(Sender)

_WAITING = (select(_M.c.sender_sid, func.count().label("messages"), func.min(_M.c.date_created).label("oldest"))
            .where(_M.c.status.in_((Status.QUEUED.value, Status.SENDING.value)))  # ix_message_expiry
            .group_by(_M.c.sender_sid).subquery())
_BY_SENDER = select(_WAITING.c.sender_sid, _WAITING.c.messages, _WAITING.c.oldest, _S.c.mps).join(
    _S, _S.c.sid == _WAITING.c.sender_sid)


def queue_by_sender(connection: Connection) -> Sequence[Row[Any, Any, Any, Any]]:
    """(sender_sid, messages, oldest, mps) for each sender with messages queued or being sent."""
    return connection.execute(_BY_SENDER).all()
