"""Held messages' statements: find the due ones, and queue them, set by set.

A held message is a `scheduled` row with `send_at`; `ix_message_due` (status, send_at) makes
the due read a range scan however many messages wait.  Rows are claimed `FOR UPDATE SKIP
LOCKED` on PostgreSQL, so workers sharing the database each release different messages and a
cancel (which locks its row) either waits for the release or is waited for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Row
from sqlmodel import Session, col

from gateway.lifecycle import SCHEDULED_BY_APP, Status
from gateway.store.tables import Message, MessageEvent, Sender, Service, core_table

_M = core_table(Message)
_V = core_table(Service)
_S = core_table(Sender)

#: Due held messages with what their gate needs (the service's geo permissions, traffic type and
#: quiet hours, the sender's kind and registrations, the reasons it was accepted for), oldest due first.
_DUE = (
    select(
        _M.c.seq,
        _M.c.sid,
        _M.c.account_sid,
        _M.c.service_sid,
        _M.c.sender_sid,
        _M.c.sender,
        _M.c.to,
        _M.c.num_segments,
        _M.c.status_callback,
        _M.c.request_id,
        _M.c.send_at,
        _M.c.expires_at,
        _M.c.reasons,
        _V.c.allowed_countries,
        _V.c.traffic_type,
        _V.c.quiet_hours,
        _S.c.kind.label("sender_kind"),
        _S.c.registered_countries,
    )
    .select_from(_M.outerjoin(_V, _V.c.sid == _M.c.service_sid).outerjoin(_S, _S.c.sid == _M.c.sender_sid))
    .where(_M.c.status == Status.SCHEDULED.value, _M.c.send_at <= bindparam("now"))
    .order_by(_M.c.send_at, _M.c.seq)
    .limit(bindparam("limit"))
    .with_for_update(of=_M, skip_locked=True)
)  # another worker's claim, or a cancel, goes first
_QUEUE = (
    update(_M)
    .where(_M.c.seq == bindparam("ref"))
    .values(status=Status.QUEUED.value, date_updated=bindparam("now"), reasons=bindparam("reasons"))
)
_HOLD_AGAIN = (
    update(_M)
    .where(_M.c.seq == bindparam("ref"))
    .values(
        send_at=bindparam("until"),
        hold_reason=bindparam("reason"),
        expires_at=bindparam("expires"),
        date_updated=bindparam("now"),
        reasons=bindparam("reasons"),
    )
)
_REASONS = update(_M).where(_M.c.seq == bindparam("ref")).values(reasons=bindparam("reasons"))
_EVENTS = insert(core_table(MessageEvent))


def due(connection: Connection, now: datetime, limit: int) -> Sequence[Row[*tuple[Any, ...]]]:
    """Claim up to `limit` held messages whose time has come (locked until the transaction ends)."""
    return connection.execute(_DUE, {"now": now, "limit": limit}).all()


def queue(
    connection: Connection, rows: Sequence[Row[*tuple[Any, ...]]], now: datetime, reasons: dict[int, Any]
) -> None:
    """Queue claimed held messages with the reasons their release added (by seq): one `executemany`
    of updates, and one insert of their `queued` events."""
    connection.execute(_QUEUE, [{"ref": row.seq, "now": now, "reasons": reasons[row.seq]} for row in rows])
    connection.execute(
        _EVENTS,
        [
            {
                "message_sid": row.sid,
                "status": Status.QUEUED.value,
                "error_code": None,
                "source": "hold",
                "applied": True,
                "at": now,
            }
            for row in rows
        ],
    )


#: Each account's messages the app scheduled that still wait (`ix_message_due` finds the `scheduled` ones).
_SCHEDULED_BY_APP = (
    select(_M.c.account_sid, func.count())
    .where(
        _M.c.status == Status.SCHEDULED.value,
        _M.c.hold_reason == SCHEDULED_BY_APP,
        _M.c.account_sid.in_(bindparam("accounts", expanding=True)),
    )
    .group_by(_M.c.account_sid)
)


def scheduled_by_app(connection: Connection, accounts: list[str]) -> dict[str, int]:
    """How many messages each account scheduled (`SendAt`) are waiting: what Twilio's 35125 limits."""
    if not accounts:
        return {}
    return {account: int(count) for account, count in connection.execute(_SCHEDULED_BY_APP, {"accounts": accounts})}


def hold_again(connection: Connection, holds: list[dict[str, Any]]) -> None:
    """Keep claimed held messages `scheduled` until later: `ref` (seq), `until`, `reason`, `expires`,
    `now` and `reasons` for each, one `executemany`."""
    if holds:
        connection.execute(_HOLD_AGAIN, holds)


def record_reasons(connection: Connection, reasons: dict[int, Any]) -> None:
    """Write messages' reasons (by seq), one `executemany`."""
    if reasons:
        connection.execute(_REASONS, [{"ref": seq, "reasons": kept} for seq, kept in reasons.items()])


_STATUS_OF = (
    select(_M.c.status).where(_M.c.sid == bindparam("ref"), _M.c.account_sid == bindparam("account")).with_for_update()
)  # a release claiming it goes first, or waits for this cancel


def status_of(connection: Connection, account_sid: str, sid: str) -> str | None:
    """An account's message's status, locked until the transaction ends; None if it has no such message."""
    found = connection.execute(_STATUS_OF, {"ref": sid, "account": account_sid}).scalar()
    return None if found is None else str(found)


def reloaded(session: Session, sid: str) -> Message:
    """Message `sid` as the transaction now has it (a canceled hold, its answer), not as cached."""
    found: Message = session.execute(
        select(Message).where(col(Message.sid) == sid).execution_options(populate_existing=True)
    ).scalar_one()
    return found
