"""What a send's outcome does to its message, as writer jobs: sent or refused (`transition`), back
in line for a retry (`reschedule`), and the queued messages whose validity ended (`expire`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from gateway.dispatch.holds import opted_out_meanwhile
from gateway.errors import VALIDITY_EXPIRED
from gateway.lifecycle import Status
from gateway.outbox.backlog import Backlog
from gateway.outbox.messages import cancel_opted_out, set_status
from gateway.store import claims


def transition(
    session: Session,
    sid: str,
    status: Status,
    backlog: Backlog,
    *,
    now: datetime,
    error_code: int | None = None,
    error_message: str | None = None,
    provider_sid: str | None = None,
) -> bool:
    return set_status(
        session,
        sid,
        status,
        now=now,
        source="dispatch",
        backlog=backlog,
        error_code=error_code,
        error_message=error_message,
        provider_sid=provider_sid,
    )


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
