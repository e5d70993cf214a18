"""Consent's statements: the audit trail's one writer, the states, what a send's opt-out check reads.

The inbound path's are set-oriented: a batch of N inbound messages reads receipts,
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

from gateway.lifecycle import REPLY_DIRECTION, Status
from gateway.store.db import per_dialect
from gateway.store.rows import Batch
from gateway.store.tables import AnyRow, Confirmation, ConsentEvent, InboundReceipt, Message, OptOut, core_table

_R = core_table(InboundReceipt)
_S = core_table(OptOut)
_C = core_table(Confirmation)

_RECEIPTS = select(_R.c.provider_sid, _R.c.message_sid).where(
    _R.c.provider == bindparam("provider"), _R.c.provider_sid.in_(bindparam("sids", expanding=True))
)
_OPTED_OUT = select(_S.c.account_sid, _S.c.number, _S.c.service_sid, _S.c.channel).where(  # ix_opt_out_number
    _S.c.number.in_(bindparam("numbers", expanding=True)), _S.c.opted_out.is_(True)
)
_CONFIRMED = select(_C.c.account_sid, _C.c.number, _C.c.kind, _C.c.at).where(  # ix_confirmation_number
    _C.c.number.in_(bindparam("numbers", expanding=True))
)
_LOCKS = {
    "postgresql": text(
        "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(n, 0) AS k "
        "FROM unnest(:numbers) AS n ORDER BY k) AS keys"
    ).bindparams(bindparam("numbers", type_=postgresql.ARRAY(String)))
}

INSERT_RECEIPTS = insert(_R)
_NEW_RECEIPTS = Batch(INSERT_RECEIPTS)
_E = core_table(ConsentEvent)
_EVENTS = Batch(insert(_E))
_M = core_table(Message)
#: Built once: every send runs it, and building a statement costs more than running it.
_OPTED_OUT_OF = (
    select(_S.c.service_sid)
    .where(
        _S.c.account_sid == bindparam("account"),
        _S.c.number == bindparam("number"),
        _S.c.channel == bindparam("channel"),
        _S.c.service_sid.in_([bindparam("scope"), bindparam("everything")]),
        _S.c.opted_out.is_(True),
    )
    .limit(1)
)
#: The event that opted a number out of a scope: read only when a send is refused for it.
_LAST_OPT_OUT = (
    select(_E.c.id, _E.c.at, _E.c.source, _E.c.keyword, _E.c.inbound_message_sid, _E.c.reason, _E.c.policy_revision)
    .where(
        _E.c.account_sid == bindparam("account"),
        _E.c.number == bindparam("number"),
        _E.c.channel == bindparam("channel"),
        _E.c.scope == bindparam("scope"),
        _E.c.opted_out.is_(True),
    )
    .order_by(_E.c.id.desc())
    .limit(1)
)
#: What an opt-out cancels: the app's traffic, never the gateway's own replies (the confirmation of
#: this very opt-out, or of a STOP a moment earlier, is the answer to it).  Read for many numbers at
#: once; the caller checks the scope.
_PENDING = select(_M.c.sid, _M.c.account_sid, _M.c.to, _M.c.service_sid, _M.c.sender_sid).where(
    _M.c.account_sid.in_(bindparam("accounts", expanding=True)),
    _M.c.to.in_(bindparam("addresses", expanding=True)),  # ix_message_recipient
    _M.c.status.in_((Status.QUEUED.value, Status.ACCEPTED.value, Status.SCHEDULED.value)),
    _M.c.direction != REPLY_DIRECTION,
)


def _state_upsert(insert: Any, *, only_changes: bool = False) -> Any:
    """INSERT … ON CONFLICT DO UPDATE of a consent state; an older change leaves a newer state alone.

    With `only_changes`, a row already in the wanted state is left alone too, so whether the
    statement returns a row says whether consent changed; on PostgreSQL a concurrent transaction's change to the
    same key is waited for and then seen, so two processes cannot both record the same opt-out."""
    statement = insert(_S)
    newer = _S.c.date_updated <= statement.excluded.date_updated
    return statement.on_conflict_do_update(
        index_elements=[_S.c.account_sid, _S.c.service_sid, _S.c.number, _S.c.channel],
        set_={"opted_out": statement.excluded.opted_out, "date_updated": statement.excluded.date_updated},
        where=(newer & (_S.c.opted_out != statement.excluded.opted_out)) if only_changes else newer,
    )


_STATE_UPSERTS = per_dialect(_state_upsert)
_STATES = {name: Batch(statement) for name, statement in _STATE_UPSERTS.items()}
#: RETURNING, not rowcount, tells whether it changed: psycopg reports -1 for an upsert's rowcount.
_STATE_CHANGES = per_dialect(lambda insert: _state_upsert(insert, only_changes=True).returning(_S.c.opted_out))


def write_events(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Append consent events (`compliance.optouts.event_row`): the one writer of the audit trail,
    for keywords, the API, the console and imports alike."""
    _EVENTS.write(connection, rows)


def write_receipts(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Record the webhooks a batch processed (provider, provider_sid → message_sid), so retries find them."""
    _NEW_RECEIPTS.write(connection, rows)


def upsert_states(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Write consent states (one statement, however many rows), in SQLite or PostgreSQL."""
    _STATES[connection.dialect.name].write(connection, rows)


def change_state(connection: Connection, row: dict[str, Any]) -> bool:
    """Write one consent state unless the number is already in it; whether it changed."""
    return connection.execute(_STATE_CHANGES[connection.dialect.name], row).first() is not None


def opted_out_of(
    connection: Connection, account_sid: str, number: str, channel: str, scope: str, everything: str
) -> str | None:
    """Which of `scope` and `everything` (the account-wide scope) the number is opted out of, if any."""
    found: str | None = connection.execute(
        _OPTED_OUT_OF,
        {"account": account_sid, "number": number, "channel": channel, "scope": scope, "everything": everything},
    ).scalar()
    return found


def last_opt_out(connection: Connection, account_sid: str, number: str, channel: str, scope: str) -> AnyRow | None:
    """The consent event that opted the number out of `scope`, the latest one."""
    return connection.execute(
        _LAST_OPT_OUT, {"account": account_sid, "number": number, "channel": channel, "scope": scope}
    ).first()


def pending_to(connection: Connection, accounts: list[str], addresses: list[str]) -> list[AnyRow]:
    """The app's messages still waiting to go to these accounts' addresses."""
    return list(connection.execute(_PENDING, {"accounts": accounts, "addresses": addresses}).all())


def _confirmation_upsert(insert: Any) -> Any:
    statement = insert(_C)
    return statement.on_conflict_do_update(
        index_elements=[_C.c.account_sid, _C.c.number, _C.c.kind], set_={"at": statement.excluded.at}
    )


_CONFIRMATION_UPSERTS = per_dialect(_confirmation_upsert)
_CONFIRMATIONS = {name: Batch(statement) for name, statement in _CONFIRMATION_UPSERTS.items()}


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
    return {
        (row.account_sid, row.number, row.kind): row.at for row in connection.execute(_CONFIRMED, {"numbers": numbers})
    }


def write_confirmations(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Record the confirmation slots this batch took (one row per key: the batch keeps the last)."""
    _CONFIRMATIONS[connection.dialect.name].write(connection, rows)
