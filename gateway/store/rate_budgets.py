"""Each account's API rate limit as one token bucket in the database, leased out in shares.

`lease` refills the account's bucket for the time since it was last touched, takes `want` tokens
when that many are there (else none), and returns what it took and what is left, in one statement
(an upsert, its row locked until the writer's transaction commits), so that processes leasing at
once each see the others' takes.  Times are wall-clock seconds since the epoch; a process whose
clock is behind never moves `updated` back, so no interval is refilled twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, bindparam, case
from sqlmodel import Session

from gateway.store.db import per_dialect
from gateway.store.tables import RateBudget, core_table

_B = core_table(RateBudget)
#: A bucket refilled to within this of a share counts as holding it: a process told to come back
#: when the share has refilled must not find 4.9999999 of 5.
ROUNDING = 1e-6
_NOW, _RATE, _BURST, _WANT = (bindparam(name, type_=Float) for name in ("now", "rate", "burst", "want"))


def _lease(insert: Any) -> Any:
    elapsed = case((_NOW > _B.c.updated, _NOW - _B.c.updated), else_=0.0)
    filled = _B.c.tokens + elapsed * _RATE
    refilled = case((filled > _BURST, _BURST), else_=filled)
    granted = case((refilled >= _WANT - ROUNDING, _WANT), else_=0.0)
    statement = insert(_B).values(account_sid=bindparam("account"), tokens=_BURST - _WANT, updated=_NOW, granted=_WANT)
    return statement.on_conflict_do_update(
        index_elements=[_B.c.account_sid],
        set_={
            "tokens": refilled - granted,
            "updated": case((_NOW > _B.c.updated, _NOW), else_=_B.c.updated),
            "granted": granted,
        },
    ).returning(_B.c.granted, _B.c.tokens)


_LEASES = per_dialect(_lease)


def lease(
    session: Session, account_sid: str, *, want: float, rate: float, burst: float, now: float
) -> tuple[float, float]:
    """Take `want` tokens (at most `burst`) from the account's bucket if it holds that many: (tokens
    taken, 0 or `want`; tokens left).  A bucket not seen before starts full."""
    connection = session.connection()
    row = connection.execute(
        _LEASES[connection.dialect.name],
        {"account": account_sid, "want": want, "rate": rate, "burst": burst, "now": now},
    ).one()
    return float(row.granted), float(row.tokens)
