"""Provider outages shared by every process (`providers.health` decides, these statements record).

A row in `provider_outage` is a provider that every process routes around.  The first process whose
requests to it did nothing but fail for the failure window inserts it (a second one's insert does
nothing: the outage keeps its first `since`).  Once per probe interval one process claims the probe
by moving `next_probe` on, with a conditional update that only one claimant can win; the probe's
success deletes the row, its failure leaves the row for the next claim.  Every process reads the
rows about once a second.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlmodel import Session

from gateway.store.db import per_dialect
from gateway.store.tables import ProviderOutage, core_table

_O = core_table(ProviderOutage)


def _mark(insert: Any) -> Any:
    statement = insert(_O).values(
        provider=bindparam("provider"), since=bindparam("now"), next_probe=bindparam("next_probe"), probing=False
    )
    return statement.on_conflict_do_nothing(index_elements=[_O.c.provider]).returning(_O.c.provider)


_MARKS = per_dialect(_mark)
_CLAIM = (
    update(_O)
    .where(_O.c.provider == bindparam("name"), _O.c.next_probe <= bindparam("now"))
    .values(next_probe=bindparam("until"), probing=True)
    .returning(_O.c.since)
)
_PROBE_FAILED = update(_O).where(_O.c.provider == bindparam("name")).values(probing=False)
_HEAL = delete(_O).where(_O.c.provider == bindparam("name")).returning(_O.c.since)


def mark_unhealthy(session: Session, provider: str, *, now: datetime, probe_interval: float) -> bool:
    """Record the outage unless another process did first; whether this call did."""
    connection = session.connection()
    statement = _MARKS[connection.dialect.name]
    next_probe = now + timedelta(seconds=probe_interval)
    return (
        connection.execute(statement, {"provider": provider, "now": now, "next_probe": next_probe}).first() is not None
    )


def claim_probe(session: Session, provider: str, *, now: datetime, probe_interval: float) -> bool:
    """Take the interval's one probe of an unhealthy provider: True for the one process that moved
    `next_probe` on; a probe never answered lets the next claim in after the interval."""
    until = now + timedelta(seconds=probe_interval)
    return session.connection().execute(_CLAIM, {"name": provider, "now": now, "until": until}).first() is not None


def probe_failed(session: Session, provider: str) -> None:
    session.connection().execute(_PROBE_FAILED, {"name": provider})


def mark_healthy(session: Session, provider: str) -> datetime | None:
    """End the outage (a probe was answered); when it began, None when it had already ended."""
    since: datetime | None = session.connection().execute(_HEAL, {"name": provider}).scalar()
    return since


def outages(session: Session) -> list[ProviderOutage]:
    return list(session.execute(select(ProviderOutage).order_by(_O.c.provider)).scalars())
