"""Dead letters: deliveries that exhausted their retries, listed and replayed by staff."""

from __future__ import annotations

import json
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlmodel import Session, col

from gateway.dates import iso8601, utcnow
from gateway.store.tables import Delivery


def dead_letter_json(delivery: Delivery) -> dict[str, Any]:
    return {"id": delivery.id, "account_sid": delivery.account_sid, "kind": delivery.kind, "url": delivery.url,
            "fallback_url": delivery.fallback_url, "format": delivery.format, "attempts": delivery.attempts,
            "last_error": delivery.last_error, "params": dict(json.loads(delivery.params)),
            "date_created": iso8601(delivery.date_created), "date_updated": iso8601(delivery.date_updated)}


def list_dead(session: Session, account_sid: str | None, *, after: int | None = None,
              limit: int = 50) -> list[Delivery]:
    query = select(Delivery).where(col(Delivery.state) == "dead")
    if account_sid is not None:
        query = query.where(col(Delivery.account_sid) == account_sid)
    if after is not None:
        query = query.where(col(Delivery.id) > after)
    return list(session.execute(query.order_by(col(Delivery.id)).limit(limit)).scalars())


def replay(session: Session, account_sid: str | None, ids: list[int] | None) -> int:
    """Put dead letters back in the outbox with a fresh retry window; returns how many."""
    now = utcnow()
    statement = update(Delivery).where(col(Delivery.state) == "dead")
    if account_sid is not None:
        statement = statement.where(col(Delivery.account_sid) == account_sid)
    if ids is not None:
        statement = statement.where(col(Delivery.id).in_(ids))
    result = cast(CursorResult[Any], session.execute(statement.values(  # an UPDATE's result is a CursorResult
        state="pending", attempts=0, next_attempt_at=now, date_created=now, date_updated=now, last_error=None)))
    return int(result.rowcount or 0)
