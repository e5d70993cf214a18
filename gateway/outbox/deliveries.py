"""Writing requests to apps into the outbox, in the caller's transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import Session

from gateway.store import deliveries


def delivery_row(
    *,
    kind: str,
    account_sid: str,
    ordering_key: str,
    url: str,
    params: list[tuple[str, str]],
    now: datetime,
    method: str = "POST",
    fallback_url: str | None = None,
    fallback_method: str = "POST",
    format: str = "twilio",
    request_id: str | None = None,
) -> dict[str, Any]:
    """One request to an app, as its outbox row (a batch writes many with one `executemany`)."""
    return {
        "kind": kind,
        "account_sid": account_sid,
        "ordering_key": ordering_key,
        "url": url,
        "method": method,
        "params": json.dumps(params),
        "fallback_url": fallback_url,
        "fallback_method": fallback_method,
        "format": format,
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": None,
        "claimed_by": None,
        "date_created": now,
        "date_updated": now,
        "request_id": request_id,
    }


def enqueue(session: Session, **request: Any) -> None:
    """Queue one request (`delivery_row`'s fields); it is delivered after the transaction commits, in
    order per account and `ordering_key`."""
    deliveries.write(session.connection(), [delivery_row(**request)])
