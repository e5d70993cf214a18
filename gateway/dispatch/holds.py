"""Held messages come due: gated again, then queued, by whichever worker looks first.

Theory.  A message may wait before it joins its sender's queue: the app scheduled it
(`SendAt`), or a rule held it (quiet hours).  Both are one mechanism, `lifecycle.Hold`: the
row is stored `scheduled` with `send_at` (its due time) and `hold_reason`, its sender already
chosen; nothing is kept in memory, so holds survive restarts and any worker releases them.

Every dispatcher keeper pass (each second, and at once when the clock moves) calls
`release_due`: it claims the due rows (`store.holds.due`), passes each through the gate's
checks whose answer can change while a message waits (the recipient's opt-out in the
message's scope, the service's geo permissions), fails the refused ones with the gate's code
and a status callback each, and queues the rest set by set: one UPDATE, one insert of their
events and one of their `queued` status callbacks (the callback Twilio sends when a scheduled
message is queued).  An opt-out cancels held messages at once (`orchestration.consent.
cancel_pending`); the gate here catches a change that reached the database another way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row
from sqlmodel import Session

from gateway.channels import WHATSAPP
from gateway.compliance.gates import parse_recipient, region_verdict
from gateway.compliance.optouts import opt_out_verdict, scope_of
from gateway.compliance.verdicts import refusal
from gateway.errors import GatewayError, NotCancelable
from gateway.lifecycle import REPLY_DIRECTION, Status
from gateway.observability import metrics
from gateway.outbox.backlog import Backlog
from gateway.outbox.deliveries import delivery_row
from gateway.outbox.messages import set_status
from gateway.outbox.payloads import status_callback_params
from gateway.store import deliveries as delivery_rows
from gateway.store import holds
from gateway.store.consent import opted_out_states
from gateway.store.tables import Message

#: Held messages released per transaction; a keeper pass takes more at once when there are.
BATCH = 1000


@dataclass(frozen=True)
class Released:
    senders: frozenset[str]  # senders that got work: their pacers are started
    more: bool  # a full batch: more may be due already


def regate(
    session: Session, row: Row[Any], opted_out: Mapping[tuple[str, str], set[tuple[str, str]]]
) -> GatewayError | None:
    """The gate again for a held message now due: None to send it, else the refusal.  It runs the
    checks of `dispatch.submit` whose answer can change while a message waits; `opted_out` is what
    `release_due` read for all its numbers at once, so a subscribed recipient costs no statement."""
    try:
        recipient = parse_recipient(row.to)
    except GatewayError as invalid:  # numbering metadata changed since: fail it rather than retry forever
        return invalid
    allowed = frozenset(row.allowed_countries.split(",")) if row.allowed_countries else None
    refused = refusal(
        [
            region_verdict(
                recipient.country,
                allowed,
                reply_to_inbound=False,
                source=f"service {row.service_sid}: GeoPermissions"
                if row.service_sid
                else "no Messaging Service: every country is permitted",
            ),
            opt_out_verdict(session, row.account_sid, scope_of(row.service_sid, row.sender_sid), recipient, opted_out),
        ]
    )
    return refused.error if refused is not None else None


def opted_out_meanwhile(session: Session, message: Message) -> bool:
    """Whether the recipient of an app message that comes back from its provider for a retry has
    opted out while it was in flight.  An opt-out cancels what waits (`orchestration.consent.
    cancel_pending`), not what a worker has claimed; without this check a message that was in
    flight at the STOP would go out at its retry."""
    if message.direction == REPLY_DIRECTION or message.sender_sid is None:  # a STOP's confirmation still goes
        return False
    try:
        recipient = parse_recipient(message.to)
    except GatewayError:
        return False
    scope = scope_of(message.service_sid, message.sender_sid)
    return opt_out_verdict(session, message.account_sid, scope, recipient).error is not None


def release_due(session: Session, now: datetime, backlog: Backlog, limit: int = BATCH) -> Released:
    """Queue the held messages due at `now` that the gate still lets through; fail the others."""
    connection = session.connection()
    rows = holds.due(connection, now, limit)
    if not rows:
        return Released(frozenset(), False)
    numbers = sorted({row.to.removeprefix(WHATSAPP) for row in rows})
    opted_out = opted_out_states(connection, numbers)
    going = []
    for row in rows:
        refused = regate(session, row, opted_out)
        if refused is None:
            going.append(row)
        else:
            set_status(
                session,
                row.sid,
                Status.FAILED,
                now=now,
                source="hold",
                backlog=backlog,
                error_code=refused.code,
                error_message=refused.message,
            )
    if going:
        holds.queue(connection, going, now)
        callbacks = [
            delivery_row(
                kind="status_callback",
                account_sid=row.account_sid,
                ordering_key=row.sid,
                url=row.status_callback,
                now=now,
                request_id=row.request_id,
                params=status_callback_params(
                    message_sid=row.sid,
                    account_sid=row.account_sid,
                    service_sid=row.service_sid,
                    sender=row.sender,
                    to=row.to,
                    status=Status.QUEUED,
                    error_code=None,
                ),
            )
            for row in going
            if row.status_callback
        ]
        if callbacks:
            delivery_rows.write(connection, callbacks)
        for row in going:
            backlog.add(row.sender_sid, row.num_segments)
            metrics.status_changed(session, Status.QUEUED.value, None)
    return Released(frozenset(row.sender_sid for row in going), len(rows) >= limit)


def cancel(session: Session, account_sid: str, sid: str, now: datetime, backlog: Backlog) -> Message | None:
    """Cancel an account's held message (the app's `Status=canceled`), with its `canceled` status
    callback; None if the account has no such message, 30409 once it is no longer held."""
    status = holds.status_of(session.connection(), account_sid, sid)
    if status is None:
        return None
    if status != Status.SCHEDULED.value:
        raise NotCancelable(f"The message {sid} cannot be canceled: it is {status}, no longer scheduled.")
    set_status(session, sid, Status.CANCELED, now=now, source="api", backlog=backlog)
    return holds.reloaded(session, sid)
