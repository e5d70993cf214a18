"""What a send's outcome does to its message, as writer jobs: sent or refused (`Transitions`, set
by set), back in line for a retry (`reschedule`), and the queued messages whose validity ended
(`expire`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from gateway.dates import Clock
from gateway.dispatch.holds import opted_out_meanwhile
from gateway.errors import VALIDITY_EXPIRED
from gateway.lifecycle import Status
from gateway.outbox.backlog import Backlog
from gateway.outbox.messages import Change, cancel_opted_out, set_status, set_statuses
from gateway.store import claims


@dataclass(frozen=True, eq=False)
class Transitions:
    """The writer's batch handler for sends' outcomes (`sent`, or `failed` with the provider's
    code): the outcomes of a pacer round that wait together are written with one set of
    statements (`outbox.messages.set_statuses`).  One per dispatcher, so they group."""

    backlog: Backlog
    clock: Clock

    def __call__(self, session: Session, changes: list[Change]) -> list[bool]:
        return set_statuses(session, changes, now=self.clock.now(), backlog=self.backlog)


def reschedule(session: Session, sid: str, delay: float, backlog: Backlog, *, now: datetime) -> None:
    """Try `sid` again in `delay` seconds, unless its validity ends first (30036) or its recipient
    opted out while it was in flight (21610)."""
    message = claims.message(session, sid)
    message.attempts += 1
    message.next_attempt_at = now + timedelta(seconds=delay)
    if message.next_attempt_at >= message.expires_at:
        session.add(message)
        session.flush()
        set_status(
            session,
            sid,
            Status.FAILED,
            now=now,
            source="expiry",
            backlog=backlog,
            error_code=VALIDITY_EXPIRED,
            error_message="Validity period expired before the provider took it.",
        )
        return
    if message.status == Status.SENDING.value:
        message.status = Status.QUEUED.value  # not a lifecycle move: back in line, same idempotency key
        session.add(message)
        session.flush()
        if opted_out_meanwhile(session, message):
            cancel_opted_out(session, sid, now=now, backlog=backlog)
        return
    session.add(message)


def expire(session: Session, backlog: Backlog, *, now: datetime) -> None:
    for sid in claims.expired(session, now):
        set_status(
            session,
            sid,
            Status.FAILED,
            now=now,
            source="expiry",
            backlog=backlog,
            error_code=VALIDITY_EXPIRED,
            error_message="Validity period expired.",
        )
