"""The dispatch queue's claims: which senders have work, a pacer's batch of due messages (marked
`sending` under the sender's lease), giving them back, and what ran out of validity.

Every function runs inside the caller's transaction (a writer job) and takes the time from it:
the worker reads its injected clock once per job.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from gateway.lifecycle import Status
from gateway.store.leases import BACK_TO_QUEUE
from gateway.store.tables import AnyRow, Message, Sender, SenderLease, core_table

_M = core_table(Message)
_L = core_table(SenderLease)
_S = core_table(Sender)

#: Senders with messages waiting (or claimed by a worker) whose lease is free, lapsed or ours.
_WITH_WORK = select(_S.c.sid).where(
    select(_M.c.seq)
    .where(_M.c.sender_sid == _S.c.sid, _M.c.status.in_((Status.QUEUED.value, Status.SENDING.value)))
    .exists(),
    ~select(_L.c.sender_sid)
    .where(_L.c.sender_sid == _S.c.sid, _L.c.owner != bindparam("owner"), _L.c.expires_at >= bindparam("now"))
    .exists(),
)
_HOLDS = (
    select(_L.c.acquired_at)
    .where(_L.c.sender_sid == bindparam("sender"), _L.c.owner == bindparam("owner"), _L.c.expires_at > bindparam("now"))
    .with_for_update()
)  # a takeover waits for this claim, or this claim sees the takeover
#: Claimed messages of the sender that no send of this worker holds: a dead worker's, or ones this
#: worker lost track of (a pacer that stopped on an error).
_ORPHANS = BACK_TO_QUEUE.where(
    _M.c.sender_sid == bindparam("of_sender"), _M.c.sid.not_in(bindparam("in_flight", expanding=True))
)
_AN_ORPHAN = (
    select(_M.c.seq)
    .where(
        _M.c.sender_sid == bindparam("of_sender"),
        _M.c.status == Status.SENDING.value,
        _M.c.sid.not_in(bindparam("in_flight", expanding=True)),
    )
    .limit(1)
)
DUE = (
    select(
        _M.c.seq,
        _M.c.sid,
        _M.c.sender,
        _M.c.to,
        _M.c.body,
        _M.c.media,
        _M.c.provider,
        _M.c.expires_at,
        _M.c.attempts,
        _M.c.num_segments,
        _M.c.priority,
        _M.c.request_id,
    )
    .where(
        _M.c.sender_sid == bindparam("sender"),
        _M.c.status == Status.QUEUED.value,
        or_(_M.c.next_attempt_at.is_(None), _M.c.next_attempt_at <= bindparam("now")),
    )
    .order_by(_M.c.priority, _M.c.seq)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)  # rows an opt-out is canceling right now wait for the next round
_MARK_SENDING = update(_M).where(_M.c.seq.in_(bindparam("seqs", expanding=True))).values(status=Status.SENDING.value)
_UNCLAIM = BACK_TO_QUEUE.where(_M.c.seq.in_(bindparam("seqs", expanding=True)))
_NEXT_DUE = select(func.min(_M.c.next_attempt_at)).where(
    _M.c.sender_sid == bindparam("sender"), _M.c.status == Status.QUEUED.value
)
#: Queued messages past their validity; a row another worker is failing right now is skipped.
_EXPIRED = (
    select(_M.c.sid)
    .where(_M.c.status == Status.QUEUED.value, _M.c.expires_at <= bindparam("now"))
    .limit(1000)
    .with_for_update(skip_locked=True)
)


def senders_with_work(connection: Connection, owner: str, now: datetime) -> list[str]:
    return list(connection.execute(_WITH_WORK, {"owner": owner, "now": now}).scalars())


class Claim(NamedTuple):
    batch: list[AnyRow]
    next_due: float | None  # seconds until the pacer should claim again though nothing woke it
    orphans: bool  # orphans of an earlier holder wait for `adopt_after`: a later claim queues them


def claim(
    session: Session,
    sender_sid: str,
    owner: str,
    limit: int,
    in_flight: frozenset[str] | None,
    *,
    now: datetime,
    adopt_after: float,
) -> Claim | None:
    """Claim the next due messages of a sender (None: the lease is not ours); when the batch is
    not full, also the seconds until a retry is due.  Given `in_flight` (a pacer's first claim,
    or one after a lost write), the sender's `sending` messages outside it are orphans of an
    earlier holder or pacer, queued again first: every batch before was sent or given back.
    An earlier holder's only once the lease is `adopt_after` seconds ours (`dispatch.worker`)."""
    connection = session.connection()
    acquired_at = connection.execute(_HOLDS, {"sender": sender_sid, "owner": owner, "now": now}).scalar()
    if acquired_at is None:
        return None
    adopt_in: float | None = None  # seconds until an earlier holder's orphans may be queued again
    if in_flight is not None:
        orphans = {"of_sender": sender_sid, "in_flight": sorted(in_flight)}
        adopt_in = (acquired_at - now).total_seconds() + adopt_after
        if adopt_in <= 0:
            connection.execute(_ORPHANS, orphans)
            adopt_in = None
        elif connection.execute(_AN_ORPHAN, orphans).first() is None:
            adopt_in = None
    batch = list(connection.execute(DUE, {"sender": sender_sid, "now": now, "limit": limit}).all())
    if batch:
        connection.execute(_MARK_SENDING, {"seqs": [row.seq for row in batch]})
    if len(batch) >= limit:
        return Claim(batch, None, adopt_in is not None)
    later = connection.execute(_NEXT_DUE, {"sender": sender_sid}).scalar()
    due = (later - now).total_seconds() if later is not None and later > now else None
    wait = min((w for w in (due, adopt_in) if w is not None), default=None)
    return Claim(batch, wait, adopt_in is not None)


def unclaim(session: Session, seqs: list[int]) -> None:
    """Claimed messages back to the queue, unsent (same idempotency key)."""
    session.connection().execute(_UNCLAIM, {"seqs": seqs})


def expired(session: Session, now: datetime) -> list[str]:
    """Queued messages whose validity ended, locked for the caller to fail."""
    return list(session.connection().execute(_EXPIRED, {"now": now}).scalars().all())


def message(session: Session, sid: str) -> Message:
    """The message `sid`, as an object to change (a retry's bookkeeping)."""
    found: Message = session.execute(select(Message).where(col(Message.sid) == sid)).scalar_one()
    return found
