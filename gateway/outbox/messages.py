"""The message queue's writes: status changes with their events and callbacks.

Every function takes the caller's session and never commits: they run inside
writer jobs, so a status change, its event row, its callback and the backlog
count move together.  They use prebuilt Core statements: dispatch runs them
for every message, and ORM objects would cost more than the SQL.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from gateway.errors import Forbidden
from gateway.lifecycle import Status, advances
from gateway.observability import metrics
from gateway.outbox.backlog import Backlog
from gateway.outbox.deliveries import enqueue
from gateway.outbox.payloads import status_callback_params
from gateway.store.tables import Message, MessageEvent, core_table

log = logging.getLogger("gateway.webhooks")

_IN_QUEUE = frozenset({Status.QUEUED.value, Status.SENDING.value})
_M = core_table(Message)

_CURRENT = (select(_M.c.sid, _M.c.status, _M.c.sender_sid, _M.c.num_segments, _M.c.status_callback,
                   _M.c.account_sid, _M.c.service_sid, _M.c.sender, _M.c.to, _M.c.error_code,
                   _M.c.provider_sid, _M.c.request_id).where(_M.c.sid == bindparam("ref"))
            .with_for_update())  # processes changing one message's status take turns
_REPORTED_BY_SID = select(_M.c.sid, _M.c.provider).where(_M.c.sid == bindparam("ref"))
_REPORTED_BY_PROVIDER_SID = select(_M.c.sid, _M.c.provider).where(_M.c.provider_sid == bindparam("provider_sid"))
_UPDATE = update(_M).where(_M.c.sid == bindparam("ref"))
_EVENT = insert(core_table(MessageEvent))


INSERT_MESSAGE = insert(_M)
#: Every column a new message row may leave to its kind's default.
_MESSAGE_DEFAULTS: dict[str, Any] = {
    "service_sid": None, "sender_sid": None, "direction": "outbound-api", "sender": None, "body": "", "media": "",
    "priority": 1, "num_segments": 1, "encoding": "GSM-7", "error_code": None, "error_message": None,
    "status_callback": None, "opt_out_type": None, "provider": None, "provider_sid": None, "attempts": 0,
    "next_attempt_at": None, "send_at": None, "hold_reason": None, "date_sent": None, "reasons": None,
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
        session.connection().execute(INSERT_MESSAGE, row)
    else:
        defer.append(row)
    return row


_UPDATES: dict[frozenset[str], Any] = {}


def _update_of(columns: frozenset[str]) -> Any:
    """The UPDATE for this set of columns, built once (a handful of sets occur)."""
    statement = _UPDATES.get(columns)
    if statement is None:
        statement = _UPDATES[columns] = _UPDATE.values(**{c: bindparam(c) for c in columns})
    return statement


def reported_message(session: Session, provider: str, reference: str | None, provider_sid: str) -> str | None:
    """The message a provider's status report is about: by the `ref` the gateway put on the callback
    URL, else by the provider's id; None if it is not ours. A report about a message another provider
    carries is refused: one provider's secret proves nothing about another's messages."""
    connection = session.connection()
    row = (connection.execute(_REPORTED_BY_SID, {"ref": reference}) if reference else
           connection.execute(_REPORTED_BY_PROVIDER_SID, {"provider_sid": provider_sid})).first()
    if row is None:
        return None
    if row.provider != provider:
        log.warning("status webhook from provider %s refused: message %s is carried by provider %s", provider,
                    row.sid, row.provider)
        raise Forbidden(f"Message {row.sid} is not carried by provider {provider!r}; its reports are refused.")
    return str(row.sid)


def set_status(session: Session, sid: str, status: Status, *, now: datetime, source: str, backlog: Backlog,
               error_code: int | None = None, error_message: str | None = None,
               provider_sid: str | None = None, extra: dict[str, Any] | None = None) -> bool:
    """Move message `sid` to `status` if that is forward; log the report either way.

    `provider_sid` is recorded whenever it is new; `extra` columns are written only with an
    applied change.  Returns whether the status changed."""
    connection = session.connection()
    row = connection.execute(_CURRENT, {"ref": sid}).first()
    if row is None:
        return False
    applied = advances(Status(row.status), status)
    connection.execute(_EVENT, {"message_sid": sid, "status": status.value, "error_code": error_code,
                                "source": source, "applied": applied, "at": now})
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
        connection.execute(_update_of(frozenset(values)), {"ref": sid, **values})
    if applied and row.status_callback:
        params = status_callback_params(message_sid=sid, account_sid=row.account_sid, service_sid=row.service_sid,
                                        sender=row.sender, to=row.to, status=status,
                                        error_code=error_code if error_code is not None else row.error_code)
        enqueue(session, kind="status_callback", account_sid=row.account_sid, ordering_key=sid,
                url=row.status_callback, params=params, now=now, request_id=row.request_id)
    return applied
