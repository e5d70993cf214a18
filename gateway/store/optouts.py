"""Reads of an account's opt-out states and consent events, for the API and the console.

`ix_opt_out_number` serves a number's states; `ix_consent_event_number` its events; a page of
states walks the primary key (`transfer.select_states`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from gateway.store.tables import ConsentEvent, OptOut, core_table
from gateway.transfer import Cursor, select_states

_S = core_table(OptOut)
_E = core_table(ConsentEvent)


def number_events(connection: Connection, account_sid: str, number: str) -> list[Row[Any]]:
    """The number's consent events, newest first."""
    return list(connection.execute(select(_E).where(_E.c.account_sid == account_sid, _E.c.number == number)
                                   .order_by(_E.c.at.desc(), _E.c.id.desc())))


def number_states(connection: Connection, account_sid: str, number: str) -> list[Row[Any]]:
    """The number's state in every scope and channel."""
    return list(connection.execute(select_states(account_sid, number=number)).all())


def states_page(session: Session, account_sid: str, *, after: Cursor | None, scope: str | None,
                number: str | None, channel: str | None, opted_out: bool | None, limit: int) -> list[Row[Any]]:
    """Up to `limit` opt-out rows in key order (scope, number, channel) after `after`, filtered exactly."""
    return list(session.connection().execute(select_states(account_sid, after=after, scope=scope, number=number,
                                                           channel=channel, opted_out=opted_out).limit(limit)))


def is_opted_out(connection: Connection, account_sid: str, scope: str, number: str, channel: str) -> bool:
    """Whether the number is opted out of this scope on this channel now."""
    return bool(connection.execute(select(_S.c.opted_out).where(
        _S.c.account_sid == account_sid, _S.c.service_sid == scope, _S.c.number == number,
        _S.c.channel == channel)).scalar())
