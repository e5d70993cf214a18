"""The message queue's writes: status changes with their events and callbacks.

Every function takes the caller's session and never commits: they run inside
writer jobs, so a status change, its event row, its callback and the backlog
count move together.  Their statements are `store.queue`'s, prebuilt: dispatch
runs them for every message, and ORM objects would cost more than the SQL.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlmodel import Session

from gateway.compliance.optouts import OPT_OUT_CODE
from gateway.errors import Forbidden
from gateway.lifecycle import Status, advances
from gateway.observability import metrics
from gateway.outbox.backlog import Backlog
from gateway.outbox.deliveries import enqueue
from gateway.outbox.payloads import status_callback_params
from gateway.store import queue

log = logging.getLogger("gateway.webhooks")

_IN_QUEUE = frozenset({Status.QUEUED.value, Status.SENDING.value})
#: Every column a new message row may leave to its kind's default.
_MESSAGE_DEFAULTS: dict[str, Any] = {
    "service_sid": None,
    "sender_sid": None,
    "direction": "outbound-api",
    "sender": None,
    "body": "",
    "media": "",
    "priority": 1,
    "num_segments": 1,
    "encoding": "GSM-7",
    "error_code": None,
    "error_message": None,
    "status_callback": None,
    "opt_out_type": None,
    "provider": None,
    "provider_sid": None,
    "attempts": 0,
    "next_attempt_at": None,
    "send_at": None,
    "hold_reason": None,
    "date_sent": None,
    "reasons": None,
    "request_id": None,
}


def message_row(**fields: Any) -> dict[str, Any]:
    """A whole message row (outbound or inbound): every column, so rows share one `executemany`."""
    row = _MESSAGE_DEFAULTS | fields
    row.setdefault("date_updated", row["date_created"])
    return row


def insert_message(session: Session, defer: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    """Write one message row with a prebuilt statement, or, with `defer`, add it to a batch's rows
    for the caller's one `executemany`; returns the row."""
    row = message_row(**fields)
    if defer is None:
        queue.insert_messages(session.connection(), [row])
    else:
        defer.append(row)
    return row


def reported_message(session: Session, provider: str, reference: str | None, provider_sid: str) -> str | None:
    """The message a provider's status report is about: by the `ref` the gateway put on the callback
    URL, else by the provider's id; None if it is not ours. A report about a message another provider
    carries is refused: one provider's secret proves nothing about another's messages."""
    row = queue.reported(session.connection(), reference, provider_sid)
    if row is None:
        return None
    if row.provider != provider:
        log.warning(
            "status webhook from provider %s refused: message %s is carried by provider %s",
            provider,
            row.sid,
            row.provider,
        )
        raise Forbidden(f"Message {row.sid} is not carried by provider {provider!r}; its reports are refused.")
    return str(row.sid)


def set_status(
    session: Session,
    sid: str,
    status: Status,
    *,
    now: datetime,
    source: str,
    backlog: Backlog,
    error_code: int | None = None,
    error_message: str | None = None,
    provider_sid: str | None = None,
    extra: dict[str, Any] | None = None,
) -> bool:
    """Move message `sid` to `status` if that is forward; log the report either way.

    `provider_sid` is recorded whenever it is new; `extra` columns are written only with an
    applied change.  Returns whether the status changed."""
    connection = session.connection()
    row = queue.current(connection, sid)
    if row is None:
        return False
    applied = advances(Status(row.status), status)
    queue.add_event(connection, sid, status.value, error_code=error_code, source=source, applied=applied, at=now)
    values: dict[str, Any] = {}
    if provider_sid and row.provider_sid != provider_sid:
        values["provider_sid"] = provider_sid
    if applied:
        values.update(status=status.value, date_updated=now, **(extra or {}))
        if error_code is not None:
            values.update(error_code=error_code, error_message=error_message)
        if status is Status.SENT:
            values["date_sent"] = now
        if row.status in _IN_QUEUE and status.value not in _IN_QUEUE and row.sender_sid:
            backlog.remove(row.sender_sid, row.num_segments)
        metrics.status_changed(session, status.value, error_code)
    if values:
        queue.update_message(connection, sid, values)
    if applied and row.status_callback:
        params = status_callback_params(
            message_sid=sid,
            account_sid=row.account_sid,
            service_sid=row.service_sid,
            sender=row.sender,
            to=row.to,
            status=status,
            error_code=error_code if error_code is not None else row.error_code,
        )
        enqueue(
            session,
            kind="status_callback",
            account_sid=row.account_sid,
            ordering_key=sid,
            url=row.status_callback,
            params=params,
            now=now,
            request_id=row.request_id,
        )
    return applied


def cancel_opted_out(session: Session, sid: str, *, now: datetime, backlog: Backlog) -> bool:
    """Cancel message `sid` because its recipient opted out (21610, as Twilio's status callback
    says it), whether it was waiting or came back from the provider for a retry."""
    return set_status(
        session,
        sid,
        Status.CANCELED,
        now=now,
        source="opt-out",
        backlog=backlog,
        error_code=OPT_OUT_CODE,
        error_message="The recipient opted out.",
    )
