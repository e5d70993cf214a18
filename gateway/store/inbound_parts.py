"""The parts of long inbound messages waiting to be joined (`providers.reassembly`), by group: one long
message's parts share (provider, sender, to, ref)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from gateway.store.tables import InboundPart

Group = tuple[str, str, str, str]  # provider, sender, to, ref


def parts(session: Session, group: Group) -> list[InboundPart]:
    return list(session.exec(select(InboundPart).where(*_in_group(group))))


def waiting(session: Session, provider: str) -> list[InboundPart]:
    """Every part of the provider's groups not joined yet."""
    return list(
        session.exec(
            select(InboundPart).where(col(InboundPart.provider) == provider, col(InboundPart.joined_at).is_(None))
        )
    )


def forget(session: Session, group: Group) -> None:
    session.execute(delete(InboundPart).where(*_in_group(group)))


def forget_joined_before(session: Session, provider: str, moment: datetime) -> None:
    session.execute(
        delete(InboundPart).where(col(InboundPart.provider) == provider, col(InboundPart.joined_at) < moment)
    )


def mark_joined(session: Session, group: Group, now: datetime) -> None:
    """Mark the group's parts joined at `now` (those not marked already)."""
    session.execute(
        update(InboundPart).where(*_in_group(group), col(InboundPart.joined_at).is_(None)).values(joined_at=now)
    )


def unmark_joined(session: Session, group: Group) -> None:
    session.execute(update(InboundPart).where(*_in_group(group)).values(joined_at=None))


def _in_group(group: Group) -> tuple[Any, ...]:
    """The conditions that select one long message's parts."""
    provider, sender, to, ref = group
    return (
        col(InboundPart.provider) == provider,
        col(InboundPart.sender) == sender,
        col(InboundPart.to) == to,
        col(InboundPart.ref) == ref,
    )
