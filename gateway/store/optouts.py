"""Reads of an account's opt-out states and consent events, for the API and the console.

`ix_opt_out_number` serves a number's states; `ix_consent_event_number` its events; a page of
states walks the primary key (`_select_states`), as the CSV export does a chunk at a time.  The
import's reads (`transfer.import_csv`) are here too: the states a chunk meets, and the pending
messages an import left opted out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, case, exists, func, or_, select, tuple_
from sqlalchemy.engine import Connection
from sqlmodel import Session

from gateway.channels import WHATSAPP
from gateway.lifecycle import Status
from gateway.store.tables import Account, AnyRow, ConsentEvent, Message, OptOut, Sender, Service, core_table

_S = core_table(OptOut)
_E = core_table(ConsentEvent)
_M = core_table(Message)
_A = core_table(Account)
_V = core_table(Service)
_N = core_table(Sender)
_PENDING = (Status.QUEUED.value, Status.ACCEPTED.value, Status.SCHEDULED.value)
_KEY = (_S.c.service_sid, _S.c.number, _S.c.channel)  # the stable order: the primary key after account_sid

Cursor = tuple[str, str, str]  # (scope, number, channel)


def _select_states(
    account_sid: str,
    *,
    after: Cursor | None = None,
    scope: str | None = None,
    number: str | None = None,
    channel: str | None = None,
    opted_out: bool | None = None,
    with_source: bool = False,
) -> Select[Any]:
    """The account's opt-out rows in key order, after `after`, filtered by what is given."""
    columns: list[ColumnElement[Any]] = [_S.c.account_sid, *_KEY, _S.c.opted_out, _S.c.date_updated]
    if with_source:
        columns.append(
            select(_E.c.source)
            .where(
                _E.c.account_sid == _S.c.account_sid,
                _E.c.number == _S.c.number,
                _E.c.scope == _S.c.service_sid,
                _E.c.channel == _S.c.channel,
            )
            .order_by(_E.c.id.desc())
            .limit(1)
            .scalar_subquery()
            .label("source")
        )
    query = select(*columns).where(_S.c.account_sid == account_sid)
    for column, value in (
        (_S.c.service_sid, scope),
        (_S.c.number, number),
        (_S.c.channel, channel),
        (_S.c.opted_out, opted_out),
    ):
        if value is not None:
            query = query.where(column == value)
    if after is not None:
        query = query.where(tuple_(*_KEY) > tuple_(*after))
    return query.order_by(*_KEY)


def number_events(connection: Connection, account_sid: str, number: str) -> list[Row[Any]]:
    """The number's consent events, newest first."""
    return list(
        connection.execute(
            select(_E)
            .where(_E.c.account_sid == account_sid, _E.c.number == number)
            .order_by(_E.c.at.desc(), _E.c.id.desc())
        )
    )


def number_states(connection: Connection, account_sid: str, number: str) -> list[Row[Any]]:
    """The number's state in every scope and channel."""
    return list(connection.execute(_select_states(account_sid, number=number)).all())


def states_page(
    session: Session,
    account_sid: str,
    *,
    after: Cursor | None,
    scope: str | None,
    number: str | None,
    channel: str | None,
    opted_out: bool | None,
    limit: int,
) -> list[Row[Any]]:
    """Up to `limit` opt-out rows in key order (scope, number, channel) after `after`, filtered exactly."""
    return list(
        session.connection().execute(
            _select_states(
                account_sid, after=after, scope=scope, number=number, channel=channel, opted_out=opted_out
            ).limit(limit)
        )
    )


def is_opted_out(connection: Connection, account_sid: str, scope: str, number: str, channel: str) -> bool:
    """Whether the number is opted out of this scope on this channel now."""
    return bool(
        connection.execute(
            select(_S.c.opted_out).where(
                _S.c.account_sid == account_sid,
                _S.c.service_sid == scope,
                _S.c.number == number,
                _S.c.channel == channel,
            )
        ).scalar()
    )


def export_chunk(connection: Connection, account_sid: str, after: Cursor | None, limit: int) -> list[Row[Any]]:
    """Up to `limit` of the account's states after `after`, each with its latest event's `source`."""
    return list(connection.execute(_select_states(account_sid, after=after, with_source=True).limit(limit)))


def account_exists(connection: Connection, account_sid: str) -> bool:
    return connection.execute(select(_A.c.sid).where(_A.c.sid == account_sid)).first() is not None


def account_scopes(connection: Connection, account_sid: str) -> frozenset[str]:
    """The sids an opt-out of the account can be scoped to: its services and senders."""
    services = connection.execute(select(_V.c.sid).where(_V.c.account_sid == account_sid)).scalars()
    senders = connection.execute(select(_N.c.sid).where(_N.c.account_sid == account_sid)).scalars()
    return frozenset([*services, *senders])


def last_event_id(connection: Connection) -> int:
    """The newest consent event's id (0 with none): what an import writes comes after it."""
    return connection.execute(select(func.max(_E.c.id))).scalar() or 0


_STATES_OF = select(_S.c.service_sid, _S.c.number, _S.c.channel, _S.c.opted_out, _S.c.date_updated).where(
    _S.c.account_sid == bindparam("account"), _S.c.number.in_(bindparam("numbers", expanding=True))
)


def states_of(connection: Connection, account_sid: str, numbers: list[str]) -> list[AnyRow]:
    """The account's states of these numbers, in every scope and channel."""
    return list(connection.execute(_STATES_OF, {"account": account_sid, "numbers": numbers}))


def _imported_opt_outs() -> Select[Any]:
    """(number, scope, channel) of pending messages whose recipient an import event after the
    watermark left opted out: driven by the few pending messages, through the event index."""
    is_whatsapp = _M.c.to.startswith(WHATSAPP)
    bare = case((is_whatsapp, func.substr(_M.c.to, len(WHATSAPP) + 1)), else_=_M.c.to)
    channel = case((is_whatsapp, "whatsapp"), else_="sms")
    still_out = exists().where(
        _S.c.account_sid == _E.c.account_sid,
        _S.c.service_sid == _E.c.scope,
        _S.c.number == _E.c.number,
        _S.c.channel == _E.c.channel,
        _S.c.opted_out.is_(True),
    )
    return (
        select(_E.c.number, _E.c.scope, _E.c.channel)
        .distinct()
        .select_from(_M.join(_E, and_(_E.c.account_sid == _M.c.account_sid, _E.c.number == bare)))
        .where(
            _M.c.account_sid == bindparam("account"),
            _M.c.status.in_(_PENDING),
            _E.c.id > bindparam("watermark"),
            _E.c.source == "import",
            _E.c.channel == channel,
            or_(
                _E.c.scope == bindparam("everything"),
                _E.c.scope == _M.c.service_sid,
                and_(_M.c.service_sid.is_(None), _E.c.scope == _M.c.sender_sid),
            ),
            still_out,
        )
    )


_IMPORTED_OPT_OUTS = _imported_opt_outs()


def imported_opt_outs(connection: Connection, account_sid: str, watermark: int, everything: str) -> list[AnyRow]:
    """(number, scope, channel) that import events after `watermark` left opted out while messages
    to them still wait; `everything` is the account-wide scope."""
    return list(
        connection.execute(
            _IMPORTED_OPT_OUTS, {"account": account_sid, "watermark": watermark, "everything": everything}
        )
    )
