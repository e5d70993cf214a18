"""Sender leases: each sender is paced by one worker at a time, in every process and machine.

Theory.  A sender's MPS is a promise about the provider's side, so only one
pacer may send for it.  A worker that wants a sender writes a lease row
(`sender_lease`) naming itself, valid for `ttl` seconds, with an upsert that
succeeds only when no row exists, the row has lapsed, or it is already the
owner.  The holder renews every lease it keeps at `ttl / 3` and stops sending
for a sender at `renewed + ttl - margin` on its own clock if it could not
renew (database unreachable), so its last sends are answered before another
worker's lease can begin.  A killed worker simply stops renewing: its leases
lapse after at most `ttl` and the next worker to look takes them.

Messages a pacer has claimed are `sending`.  A holder's claims first put back
in the queue the sender's `sending` messages that none of its sends holds: a
previous holder is gone, and re-sending carries the same idempotency key (the
sid).  A previous holder's, only a few seconds after the takeover: one whose
lease lapsed while the database was away may still be writing what the
provider answered it (`dispatch.worker.ADOPT_AFTER`).

Every function runs inside the caller's transaction (a writer job), so a lease
and the claims made under it commit together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, case, delete, select, update
from sqlmodel import Session

from gateway.lifecycle import Status
from gateway.store.db import per_dialect
from gateway.store.tables import Message, SenderLease, core_table

_L = core_table(SenderLease)
_M = core_table(Message)

#: Claimed messages back to the queue (same idempotency key); callers narrow it down.
BACK_TO_QUEUE = update(_M).where(_M.c.status == Status.SENDING.value).values(status=Status.QUEUED.value)
_REQUEUE = BACK_TO_QUEUE.where(_M.c.sender_sid.in_(bindparam("senders", expanding=True)))
_RENEW = (
    update(_L)
    .where(_L.c.owner == bindparam("holder"), _L.c.sender_sid.in_(bindparam("senders", expanding=True)))
    .values(expires_at=bindparam("expires"))
    .returning(_L.c.sender_sid)
)
_COOL = (
    update(_L)
    .where(_L.c.owner == bindparam("holder"), _L.c.sender_sid.in_(bindparam("senders", expanding=True)))
    .values(expires_at=bindparam("until"))
)
#: A released lease stays ours this long: sends answered in the last second still count at the
#: provider, and the next holder's window starts empty.
COOLING = timedelta(seconds=1)


def _upsert(insert: Any) -> Any:
    """INSERT … ON CONFLICT DO UPDATE only where the lease lapsed or is ours; RETURNING what we got.
    `acquired_at` moves only when the owner changes: it dates the takeover (see `dispatch.worker.ADOPT_AFTER`)."""
    statement = insert(_L).values(
        sender_sid=bindparam("sender"),
        owner=bindparam("owner"),
        expires_at=bindparam("expires"),
        acquired_at=bindparam("now"),
    )
    return statement.on_conflict_do_update(
        index_elements=[_L.c.sender_sid],
        set_={
            "owner": statement.excluded.owner,
            "expires_at": statement.excluded.expires_at,
            "acquired_at": case(
                (_L.c.owner == statement.excluded.owner, _L.c.acquired_at), else_=statement.excluded.acquired_at
            ),
        },
        where=(_L.c.expires_at < statement.excluded.acquired_at) | (_L.c.owner == statement.excluded.owner),
    ).returning(_L.c.sender_sid)


_UPSERTS = per_dialect(_upsert)


def acquire(session: Session, senders: Iterable[str], *, owner: str, now: datetime, ttl: float) -> list[str]:
    """Take the leases of `senders` that are free, lapsed or ours; return the ones taken.  (The
    new holder's first claim queues again what an earlier holder left `sending`.)"""
    connection = session.connection()
    statement = _UPSERTS[connection.dialect.name]
    expires = now + timedelta(seconds=ttl)
    return [
        sid
        for sid in senders
        if connection.execute(statement, {"sender": sid, "owner": owner, "expires": expires, "now": now}).scalar()
        is not None
    ]


def renew(session: Session, senders: Sequence[str], *, owner: str, now: datetime, ttl: float) -> set[str]:
    """Extend this worker's leases; returns those it still holds (a lapsed one may have moved on)."""
    if not senders:
        return set()
    rows = (
        session.connection()
        .execute(_RENEW, {"holder": owner, "senders": list(senders), "expires": now + timedelta(seconds=ttl)})
        .scalars()
    )
    return set(rows)


def release(session: Session, senders: Sequence[str] | None, *, owner: str, requeue: bool, now: datetime) -> None:
    """Give leases up (`None`: all of `owner`'s), usable by others after `COOLING`.  `requeue`
    returns their claimed, unsent messages to the queue (shutdown); an idle pacer has none."""
    connection = session.connection()
    if senders is None:
        senders = list(connection.execute(select(_L.c.sender_sid).where(_L.c.owner == owner)).scalars())
    if not senders:
        return
    if requeue:
        connection.execute(_REQUEUE, {"senders": list(senders)})
    connection.execute(_COOL, {"holder": owner, "senders": list(senders), "until": now + COOLING})


def release_everything(session: Session, *, owner: str | None) -> None:
    """At start: drop the leases of `owner`'s earlier life (None: of everyone, as an SQLite
    `gateway serve` starts), queueing their claimed messages again."""
    connection = session.connection()
    if owner is None:
        connection.execute(BACK_TO_QUEUE)
        connection.execute(delete(_L))
        return
    senders = list(connection.execute(select(_L.c.sender_sid).where(_L.c.owner == owner)).scalars())
    if senders:
        connection.execute(_REQUEUE, {"senders": senders})
    connection.execute(delete(_L).where(_L.c.owner == owner))
