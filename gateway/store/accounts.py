"""The accounts' rows: the reads and locks `gateway.accounts` builds its sign-in and token keeping on."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session, col

from gateway.store.tables import Account


def sid_named(session: Session, name: str) -> str | None:
    """The first account with this friendly name (the demo's, found again across restarts)."""
    sid: str | None = (
        session.execute(select(col(Account.sid)).where(col(Account.friendly_name) == name)).scalars().first()
    )
    return sid


def locked_all(session: Session) -> list[Account]:
    """Every account, locked for update until the session commits (tokens sealed again with a new key)."""
    return list(session.execute(select(Account).with_for_update()).scalars())
