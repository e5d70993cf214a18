"""Dead letters: deliveries that exhausted their retries, listed and replayed by staff."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from gateway.dates import iso8601, utcnow
from gateway.store import deliveries
from gateway.store.tables import Delivery


def dead_letter_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "account_sid": delivery.account_sid,
        "kind": delivery.kind,
        "url": delivery.url,
        "fallback_url": delivery.fallback_url,
        "format": delivery.format,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "params": dict(json.loads(delivery.params)),
        "date_created": iso8601(delivery.date_created),
        "date_updated": iso8601(delivery.date_updated),
    }


def list_dead(
    session: Session, account_sid: str | None, *, after: int | None = None, limit: int = 50
) -> list[Delivery]:
    return deliveries.dead(session, account_sid, after=after, limit=limit)


def replay(session: Session, account_sid: str | None, ids: list[int] | None) -> int:
    """Put dead letters back in the outbox with a fresh retry window; returns how many."""
    return deliveries.revive(session, account_sid, ids, utcnow())
