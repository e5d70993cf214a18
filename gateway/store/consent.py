"""The inbound path's statements, set-oriented: a batch of N inbound messages reads receipts,
consent states and confirmation slots in one statement each, and writes each table with one
`executemany`, whatever N is.

Reads and writes are separate so the decisions between them stay pure (`compliance.inbound`).
On PostgreSQL, `lock_numbers` first serializes the batch with other processes' batches on the
same numbers (transaction-scoped advisory locks, taken in key order so two batches cannot
deadlock); the reads that follow see what those batches committed.  SQLite needs nothing: its
writer holds the database's write lock for the whole transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, insert, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from gateway.store.db import per_dialect
from gateway.store.tables import Confirmation, ConsentEvent, InboundReceipt, OptOut, core_table

_R = core_table(InboundReceipt)
_S = core_table(OptOut)
_C = core_table(Confirmation)

_RECEIPTS = select(_R.c.provider_sid, _R.c.message_sid).where(
    _R.c.provider == bindparam("provider"), _R.c.provider_sid.in_(bindparam("sids", expanding=True)))
_OPTED_OUT = select(_S.c.account_sid, _S.c.number, _S.c.service_sid, _S.c.channel).where(  # ix_opt_out_number
    _S.c.number.in_(bindparam("numbers", expanding=True)), _S.c.opted_out.is_(True))
_CONFIRMED = select(_C.c.account_sid, _C.c.number, _C.c.kind, _C.c.at).where(  # ix_confirmation_number
    _C.c.number.in_(bindparam("numbers", expanding=True)))
_LOCKS = {"postgresql": text("SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(n, 0) AS k "
                              "FROM unnest(:numbers) AS n ORDER BY k) AS keys").bindparams(
    bindparam("numbers", type_=postgresql.ARRAY(String)))}

INSERT_RECEIPTS = insert(_R)
INSERT_EVENTS = insert(core_table(ConsentEvent))


def _confirmation_upsert(insert: Any) -> Any:
    statement = insert(_C)
    return statement.on_conflict_do_update(index_elements=[_C.c.account_sid, _C.c.number, _C.c.kind],
                                           set_={"at": statement.excluded.at})


_CONFIRMATION_UPSERTS = per_dialect(_confirmation_upsert)


def lock_numbers(connection: Connection, numbers: list[str]) -> None:
    """Serialize with other processes' inbound batches on these numbers until commit (PostgreSQL)."""
    lock = _LOCKS.get(connection.dialect.name)
    if numbers and lock is not None:
        connection.execute(lock, {"numbers": numbers})


def seen_receipts(connection: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(provider, provider message id) → our message sid, for the webhooks already processed."""
    by_provider: defaultdict[str, list[str]] = defaultdict(list)
    for provider, provider_sid in keys:
        by_provider[provider].append(provider_sid)
    found = {}
    for provider, sids in by_provider.items():
        for row in connection.execute(_RECEIPTS, {"provider": provider, "sids": sids}):
            found[(provider, row.provider_sid)] = row.message_sid
    return found


def opted_out_states(connection: Connection, numbers: list[str]) -> defaultdict[tuple[str, str], set[tuple[str, str]]]:
    """(account, number) → the (scope, channel) pairs it is opted out of."""
    states: defaultdict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    if numbers:
        for row in connection.execute(_OPTED_OUT, {"numbers": numbers}):
            states[(row.account_sid, row.number)].add((row.service_sid, row.channel))
    return states


def last_confirmations(connection: Connection, numbers: list[str]) -> dict[tuple[str, str, str], datetime]:
    """(account, number, kind) → when that confirmation last went out."""
    if not numbers:
        return {}
    return {(row.account_sid, row.number, row.kind): row.at for row in connection.execute(_CONFIRMED,
                                                                                         {"numbers": numbers})}


def write_confirmations(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Record the confirmation slots this batch took (one row per key: the batch keeps the last)."""
    if rows:
        connection.execute(_CONFIRMATION_UPSERTS[connection.dialect.name], rows)
