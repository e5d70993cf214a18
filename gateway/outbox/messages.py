"""The message queue's writes: status changes with their events and callbacks.

Every function takes the caller's session and never commits: they run inside
writer jobs, so a status change, its event row, its callback and the backlog
count move together.  Their statements are `store.queue`'s, prebuilt: dispatch
runs them for every message, and ORM objects would cost more than the SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from gateway.compliance.optouts import OPT_OUT_CODE
from gateway.errors import Forbidden
from gateway.lifecycle import Status, advances
from gateway.observability import metrics
from gateway.outbox.backlog import Backlog
from gateway.outbox.deliveries import delivery_row
from gateway.outbox.payloads import status_callback_params
from gateway.providers.base import StatusEvent
from gateway.store import deliveries as delivery_rows
from gateway.store import queue
from gateway.store.tables import AnyRow

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
    "shorten_urls": None,
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


@dataclass(frozen=True)
class Change:
    """A status a message should take, and what reported it (`source`: dispatch, provider, expiry…)."""

    sid: str
    status: Status
    source: str
    error_code: int | None = None
    error_message: str | None = None
    provider_sid: str | None = None


@dataclass(frozen=True)
class Report:
    """A provider's status reports about its messages, as one webhook posted them (`ref`: the
    gateway's sid from the callback URL)."""

    provider: str
    events: Sequence[StatusEvent]
    reference: str | None


@dataclass(frozen=True)
class Reported:
    """What a webhook's reports ask for, and whether each named a message of ours."""

    changes: list[Change]
    known: bool


def reported_messages(session: Session, reports: Sequence[Report]) -> list[Reported | Forbidden]:
    """The changes each webhook's reports ask for, finding each message by the `ref` the gateway put
    on the callback URL, else by the provider's id, with one read for all of them; reports about
    messages that are not ours, or in a status word we do not know, ask for nothing.  A webhook
    that names a message another provider carries is refused whole: one provider's secret proves
    nothing about another's messages."""
    references = {
        reference for report in reports for event in report.events if (reference := event.reference or report.reference)
    }
    by_provider = {
        event.provider_sid for report in reports for event in report.events if not (event.reference or report.reference)
    }
    by_sid, by_provider_sid = queue.reported(session.connection(), references, by_provider)
    results: list[Reported | Forbidden] = []
    for report in reports:
        changes: list[Change] = []
        known = True
        for event in report.events:
            reference = event.reference or report.reference
            row = by_sid.get(reference) if reference else by_provider_sid.get(event.provider_sid)
            if row is not None and row.provider != report.provider:
                log.warning(
                    "status webhook from provider %s refused: message %s is carried by provider %s",
                    report.provider,
                    row.sid,
                    row.provider,
                )
                results.append(
                    Forbidden(
                        f"Message {row.sid} is not carried by provider {report.provider!r}; its reports are refused."
                    )
                )
                break
            known = known and row is not None
            if row is not None and event.status is not Status.UNKNOWN:
                changes.append(
                    Change(
                        row.sid, event.status, "provider", error_code=event.error_code, provider_sid=event.provider_sid
                    )
                )
        else:
            results.append(Reported(changes, known))
    return results


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
) -> bool:
    """Move message `sid` to `status` if that is forward (`set_statuses` for one message)."""
    change = Change(sid, status, source, error_code, error_message, provider_sid)
    return set_statuses(session, [change], now=now, backlog=backlog)[0]


def set_statuses(session: Session, changes: Sequence[Change], *, now: datetime, backlog: Backlog) -> list[bool]:
    """Apply each change, in order, if it moves its message forward; log every report either way.
    Set by set: one read (locking the rows) for all the messages, then one `executemany` for the
    events, the updates and the status callbacks; a message changed twice in the set sees its first
    change when the second is decided (a `sent` then a `delivered`; a late `sent` after it changes
    nothing).

    `provider_sid` is recorded whenever it is new.  Returns whether each status changed."""
    if not changes:
        return []
    connection = session.connection()
    rows = queue.current(connection, {change.sid for change in changes})
    state = {
        sid: {"status": row.status, "error_code": row.error_code, "provider_sid": row.provider_sid}
        for sid, row in rows.items()
    }
    events: list[dict[str, Any]] = []
    updates: dict[str, dict[str, Any]] = {}
    callbacks: list[dict[str, Any]] = []
    applied_ones: list[bool] = []
    for change in changes:
        now_is = state.get(change.sid)
        if now_is is None:  # no such message
            applied_ones.append(False)
            continue
        row = rows[change.sid]
        previous = now_is["status"]
        applied = advances(Status(previous), change.status)
        applied_ones.append(applied)
        events.append(
            {
                "message_sid": change.sid,
                "status": change.status.value,
                "error_code": change.error_code,
                "source": change.source,
                "applied": applied,
                "at": now,
            }
        )
        values = updates.setdefault(change.sid, {})
        if change.provider_sid and now_is["provider_sid"] != change.provider_sid:
            values["provider_sid"] = now_is["provider_sid"] = change.provider_sid
        if not applied:
            continue
        values.update(status=change.status.value, date_updated=now)
        now_is["status"] = change.status.value
        if change.error_code is not None:
            values.update(error_code=change.error_code, error_message=change.error_message)
            now_is["error_code"] = change.error_code
        if change.status is Status.SENT:
            values["date_sent"] = now
        if previous in _IN_QUEUE and change.status.value not in _IN_QUEUE and row.sender_sid:
            backlog.remove(row.sender_sid, row.num_segments)
        metrics.status_changed(session, change.status.value, change.error_code)
        if row.status_callback:
            callbacks.append(status_callback_row(row, change.status, now_is["error_code"], now))
    queue.add_events(connection, events)
    queue.update_messages(connection, {sid: values for sid, values in updates.items() if values})
    if callbacks:
        delivery_rows.write(connection, callbacks)
    return applied_ones


def status_callback_row(row: AnyRow, status: Status, error_code: int | None, now: datetime) -> dict[str, Any]:
    """The app's status callback for message `row` reaching `status`."""
    return delivery_row(
        kind="status_callback",
        account_sid=row.account_sid,
        ordering_key=row.sid,
        url=row.status_callback,
        params=status_callback_params(
            message_sid=row.sid,
            account_sid=row.account_sid,
            service_sid=row.service_sid,
            sender=row.sender,
            to=row.to,
            status=status,
            error_code=error_code,
        ),
        now=now,
        request_id=row.request_id,
    )


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
