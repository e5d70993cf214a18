"""What a send's outcome does to its message, as writer jobs: sent or refused (`transition`,
`refused`), back in line for a retry (`reschedule`), and the queued messages whose validity ended
(`expire`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from gateway.compliance.mms import converted_verdict
from gateway.compliance.reasons import Reason
from gateway.dispatch.holds import opted_out_meanwhile
from gateway.encoding import segment
from gateway.errors import VALIDITY_EXPIRED
from gateway.lifecycle import Status
from gateway.media import MMS_REFUSED, converted_body, urls
from gateway.outbox.backlog import Backlog
from gateway.outbox.messages import cancel_opted_out, set_status
from gateway.store import claims
from gateway.store.tables import Service


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


def refused(session: Session, sid: str, code: int, text: str, backlog: Backlog, *, now: datetime) -> None:
    """The provider refused `sid` for good (`failed` with its code), unless it refused it as MMS
    (`media.MMS_REFUSED`) and the message's service has the MMS Converter on: then the message goes
    back in line at once as the converter's SMS, its segments counted again, the conversion kept
    in its reasons.  It is converted once: the SMS carries no media to refuse."""
    message = claims.message(session, sid)
    service = session.get(Service, message.service_sid) if message.service_sid else None
    if code not in MMS_REFUSED or not message.media or service is None or not service.mms_converter:
        transition(session, sid, Status.FAILED, backlog, now=now, error_code=code, error_message=text)
        return
    counted = segment(converted_body(message.body, urls(message.media)), smart=False)  # the body is as sent
    if message.sender_sid is not None:
        backlog.add(message.sender_sid, counted.segments - message.num_segments)
    verdict = converted_verdict(
        Reason("media.provider_refused", code=code), f"service {service.sid}: MmsConverter", because="provider"
    )
    if message.reasons is not None:
        gates = [*message.reasons["gates"], verdict.as_json()]
        message.reasons = {
            **message.reasons,
            "gates": gates,
            "encoding": {**message.reasons["encoding"], "segments": counted.segments, "encoding": counted.encoding},
        }
    message.body, message.media, message.num_segments, message.encoding = (
        counted.text,
        "",
        counted.segments,
        counted.encoding,
    )
    message.status, message.next_attempt_at = Status.QUEUED.value, now  # not a lifecycle move: back in line
    session.add(message)
    session.flush()
    if opted_out_meanwhile(session, message):
        cancel_opted_out(session, sid, now=now, backlog=backlog)


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
