"""The message queue's writes: status changes with their events and callbacks.

Every function takes the caller's session and never commits: they run inside
writer jobs, so a status change, its event row, its callback and the backlog
count move together.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from gateway.dispatch.backlog import Backlog
from gateway.forwarding.outbox import enqueue
from gateway.forwarding.payload import status_callback_params
from gateway.lifecycle import advances
from gateway.providers.base import Status
from gateway.store.tables import Message, MessageEvent

_IN_QUEUE = frozenset({Status.QUEUED.value, Status.SENDING.value})


def set_status(session: Session, message: Message, status: Status, *, now: datetime, source: str,
               backlog: Backlog, error_code: int | None = None, error_message: str | None = None,
               callback: bool = True) -> bool:
    """Move `message` to `status` if that is forward; log the report either way."""
    current = Status(message.status)
    applied = advances(current, status)
    session.add(MessageEvent(message_sid=message.sid, status=status.value, error_code=error_code, source=source,
                             applied=applied, at=now))
    if not applied:
        return False
    if message.status in _IN_QUEUE and status.value not in _IN_QUEUE and message.sender_sid:
        backlog.remove(message.sender_sid, message.num_segments)
    message.status = status.value
    message.date_updated = now
    if error_code is not None:
        message.error_code, message.error_message = error_code, error_message
    if status is Status.SENT and message.date_sent is None:
        message.date_sent = now
    session.add(message)
    if callback:
        queue_status_callback(session, message, status, now)
    return True


def queue_status_callback(session: Session, message: Message, status: Status, now: datetime) -> None:
    if not message.status_callback:
        return
    params = status_callback_params(message_sid=message.sid, account_sid=message.account_sid,
                                    service_sid=message.service_sid, sender=message.sender, to=message.to,
                                    status=status, error_code=message.error_code)
    enqueue(session, kind="status_callback", account_sid=message.account_sid, ordering_key=message.sid,
            url=message.status_callback, params=params, now=now)
