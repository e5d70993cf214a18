"""Long inbound messages whose provider sends each part alone (Vonage): joined before any decision.

Each part is stored (`inbound_part`) as it arrives, in any order, and answered at once. The
part that completes its group returns the joined message, which then goes through the inbound
path like any other, so STOP in a three-part message is one message and one decision. A group
still incomplete after GATEWAY_VONAGE_CONCAT_WAIT seconds is joined from the parts that came
(a timer per part stored, and one at every start, so a restart loses nothing) and a part
arriving after that is logged and dropped.

The joined message's id is that of its lowest part: a retried part (same message id) of a group
already joined joins it again with the same id, which the inbound receipts recognise, so a
webhook retried after a failure is processed exactly once. A part with the reference of a joined
group but another message id starts a new group: senders reuse references. Two processes
storing the last two parts at the same instant may each see the group incomplete; the wait then
joins it.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlmodel import Session

from gateway.providers.base import InboundMessage, twilio_fields
from gateway.store import inbound_parts
from gateway.store.inbound_parts import Group
from gateway.store.tables import InboundPart

log = logging.getLogger("gateway.webhooks")

KEEP_JOINED = timedelta(days=1)  # Vonage retries a webhook for 24 h


def hold(session: Session, provider: str, message: InboundMessage, now: datetime) -> InboundMessage | None:
    """Store one part; return the whole message once every part is in (again on a retried part)."""
    part = message.part
    assert part is not None, "hold takes parts only"
    key = (provider, message.sender, message.to, part.ref)
    existing = session.get(InboundPart, (*key, part.number))
    if existing is not None and existing.provider_sid != message.provider_sid and existing.joined_at is not None:
        # Not a retry (another message id): the sender reused the reference of a message already joined.
        inbound_parts.forget(session, key)
        session.expunge(existing)
        existing = None
    if existing is None:
        session.add(InboundPart(provider=provider, sender=message.sender, to=message.to, ref=part.ref,
                                number=part.number, total=part.total, provider_sid=message.provider_sid,
                                body=message.body, raw=json.dumps(message.raw), received_at=now))
        session.flush()
    rows = inbound_parts.parts(session, key)
    complete = len({row.number for row in rows}) >= part.total
    if not complete:
        if any(row.joined_at is not None for row in rows):
            log.warning("%s part %d/%d of %s from %s came after the wait: dropped", provider, part.number,
                        part.total, part.ref, message.sender)
        return None
    _mark_joined(session, rows, now)
    return join(rows)


def flush(session: Session, wait: float, now: datetime) -> list[tuple[Group, InboundMessage]]:
    """Join the groups whose wait has ended from the parts that came; forget day-old joined groups."""
    inbound_parts.forget_joined_before(session, now - KEEP_JOINED)
    waiting = inbound_parts.waiting(session)
    groups: dict[Group, list[InboundPart]] = {}
    for row in waiting:
        groups.setdefault((row.provider, row.sender, row.to, row.ref), []).append(row)
    due = [rows for rows in groups.values()
           if min(row.received_at for row in rows) <= now - timedelta(seconds=wait)]
    for rows in due:
        numbers = sorted(row.number for row in rows)
        log.warning("%s message %s from %s joined incomplete after %g s: parts %s of %d", rows[0].provider,
                    rows[0].ref, rows[0].sender, wait, numbers, rows[0].total)
        _mark_joined(session, rows, now)
    return [((rows[0].provider, rows[0].sender, rows[0].to, rows[0].ref), join(rows)) for rows in due]


def release(session: Session, group: Group) -> None:
    """Undo `flush`'s mark on a group whose joined message could not be recorded: the next flush retries."""
    inbound_parts.unmark_joined(session, group)


def join(rows: list[InboundPart]) -> InboundMessage:
    """The parts in order as one message; every part's fields are kept for the audit."""
    ordered = sorted(rows, key=lambda row: row.number)
    first = ordered[0]
    body = "".join(row.body for row in ordered)
    parts = [[(k, v) for k, v in json.loads(row.raw) if k.startswith(f"{first.provider}.")] for row in ordered]
    raw = [*twilio_fields(first.sender, first.to, body), ("NumSegments", str(len(ordered))),
           (f"{first.provider}.parts", json.dumps(parts))]
    return InboundMessage(provider_sid=first.provider_sid, sender=first.sender, to=first.to, body=body,
                          media_urls=(), raw=tuple(raw))


def _mark_joined(session: Session, rows: list[InboundPart], now: datetime) -> None:
    first = rows[0]
    inbound_parts.mark_joined(session, (first.provider, first.sender, first.to, first.ref), now)
