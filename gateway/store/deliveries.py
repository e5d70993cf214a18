"""The outbox of requests to apps: writing them, a forwarder's claims and the outcome of an
attempt, and the dead letters staff list and replay.

Writes run inside the caller's transaction: a request is queued with the change that caused it
(`outbox.deliveries`, inbound batches, holds), so it is delivered only if that change commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, CursorResult, Row
from sqlmodel import Session, col

from gateway.store.db import utcnow
from gateway.store.rows import Batch
from gateway.store.tables import Delivery, core_table

_D = core_table(Delivery)
_INSERT = insert(_D)
_REQUESTS = Batch(_INSERT)


def write(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Queue requests (`outbox.deliveries.delivery_row`'s rows), however many, with one `executemany`."""
    _REQUESTS.write(connection, rows)


# -- a forwarder's claims -------------------------------------------------------------------------

_FIRST_OF_EACH_KEY = (
    select(func.min(_D.c.id))
    .where(_D.c.state == "pending")
    .group_by(_D.c.account_sid, _D.c.ordering_key)
    .scalar_subquery()
)
_CLAIMABLE = (
    select(_D)
    .where(_D.c.id.in_(_FIRST_OF_EACH_KEY), _D.c.next_attempt_at <= bindparam("now"))
    .order_by(_D.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_RECORD = update(_D).where(_D.c.id == bindparam("ref"), _D.c.claimed_by == bindparam("owner"))
_CLAIM = (
    update(_D)
    .where(_D.c.id.in_(bindparam("ids", expanding=True)))
    .values(claimed_by=bindparam("owner"), next_attempt_at=bindparam("until"))
)


def claim(session: Session, owner: str, claim_for: float, limit: int) -> list[Row[Any]]:
    """The first pending delivery of each account's key that is due, hidden from other forwarders for a while."""
    now = utcnow()
    connection = session.connection()
    rows = list(connection.execute(_CLAIMABLE, {"now": now, "limit": limit}).all())
    if rows:
        connection.execute(
            _CLAIM, {"ids": [d.id for d in rows], "owner": owner, "until": now + timedelta(seconds=claim_for)}
        )
    return rows


def record(connection: Connection, delivery_id: int, owner: str, values: dict[str, Any]) -> bool:
    """Write an attempt's outcome; False (nothing written) when the claim lapsed and another forwarder has it."""
    return bool(connection.execute(_RECORD.values(**values), {"ref": delivery_id, "owner": owner}).rowcount)


def unclaim(session: Session, owner: str | None) -> None:
    """Hand back `owner`'s claims (None: everyone's, as an SQLite `gateway serve` starts), due now."""
    claimed = update(_D).where(_D.c.state == "pending", _D.c.claimed_by.is_not(None))
    if owner is not None:
        claimed = claimed.where(_D.c.claimed_by == owner)
    session.connection().execute(claimed.values(claimed_by=None, next_attempt_at=utcnow()))


# -- dead letters ---------------------------------------------------------------------------------


def dead(session: Session, account_sid: str | None, *, after: int | None, limit: int) -> list[Delivery]:
    """Dead letters in id order after `after`, of one account or (None) every account."""
    query = select(Delivery).where(col(Delivery.state) == "dead")
    if account_sid is not None:
        query = query.where(col(Delivery.account_sid) == account_sid)
    if after is not None:
        query = query.where(col(Delivery.id) > after)
    return list(session.execute(query.order_by(col(Delivery.id)).limit(limit)).scalars())


def revive(session: Session, account_sid: str | None, ids: list[int] | None, now: datetime) -> int:
    """Put dead letters back in the outbox with a fresh retry window; returns how many."""
    statement = update(Delivery).where(col(Delivery.state) == "dead")
    if account_sid is not None:
        statement = statement.where(col(Delivery.account_sid) == account_sid)
    if ids is not None:
        statement = statement.where(col(Delivery.id).in_(ids))
    result = cast(
        CursorResult[Any],
        session.execute(
            statement.values(  # an UPDATE's result is a CursorResult
                state="pending", attempts=0, next_attempt_at=now, date_created=now, date_updated=now, last_error=None
            )
        ),
    )
    return int(result.rowcount or 0)
