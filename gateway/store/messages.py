"""Reads of messages for the API and the console, each filtered by the account.

Every statement is written for the indexes the table has, so pages stay fast with millions of rows:
the API's pages walk `seq` backwards; a number's messages use `ix_message_recipient` (account_sid,
to, status); the console's recent messages `ix_message_account_created` (account_sid,
date_created), keyset-paged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import literal_column, select, tuple_
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import Session, col

from gateway.channels import WHATSAPP
from gateway.store.tables import Message, MessageEvent, core_table

_M = core_table(Message)
_V = core_table(MessageEvent)
#: The reasons column as the ORM's loader options take it.
_REASONS = cast("QueryableAttribute[Any]", Message.reasons)
PAGE = 50  # the console's page


# -- the API (ORM: the answers are built from `Message`) ------------------------------------------


def account_message(session: Session, account_sid: str, sid: str) -> Message | None:
    """The account's message `sid`; None for another account's, as for none."""
    found: Message | None = session.execute(
        select(Message).where(col(Message.sid) == sid, col(Message.account_sid) == account_sid)
    ).scalar_one_or_none()
    return found


def message_page(
    session: Session,
    account_sid: str,
    *,
    to: str | None = None,
    sender: str | None = None,
    sent_within: Iterable[tuple[datetime | None, datetime | None]] = (),
    before_seq: int | None = None,
    limit: int,
) -> list[Message]:
    """The account's messages newest first (by `seq`), before `before_seq`, sent within every
    (first, last) range given (inclusive; None leaves that end open).  A message's reasons (its
    Explain) are not part of Twilio's Message: a page never reads them."""
    query = select(Message).options(defer(_REASONS)).where(col(Message.account_sid) == account_sid)
    if to:
        query = query.where(col(Message.to) == to)
    if sender:
        query = query.where(col(Message.sender) == sender)
    for first, last in sent_within:
        if first is not None:
            query = query.where(col(Message.date_sent) >= first)
        if last is not None:
            query = query.where(col(Message.date_sent) <= last)
    if before_seq is not None:
        query = query.where(col(Message.seq) < before_seq)
    return list(session.execute(query.order_by(col(Message.seq).desc()).limit(limit)).scalars())


# -- the console (Core rows) -----------------------------------------------------------------------


def _newest_first(connection: Connection, *, by_recipient: bool = False) -> tuple[Any, ...]:
    """ORDER BY for newest first.  For one recipient's messages on SQLite, the order is written as
    an expression: without statistics SQLite would otherwise walk `ix_message_account_created`
    for its order, reading the whole account to find one number's messages, where sorting the few
    rows `ix_message_recipient` finds is the right plan (PostgreSQL's planner sees it from its
    statistics).  `text || ''` sorts exactly as the stored UTC text does."""
    if by_recipient and connection.dialect.name == "sqlite":
        return _M.c.date_created.op("||")(literal_column("''")).desc(), _M.c.seq.desc()
    return _M.c.date_created.desc(), _M.c.seq.desc()


def messages_to(connection: Connection, account_sid: str, number: str, limit: int = 500) -> list[Row[Any]]:
    """Messages to the number on any channel, newest first (`ix_message_recipient`)."""
    return list(
        connection.execute(
            select(
                _M.c.sid,
                _M.c.to,
                _M.c.sender,
                _M.c.body,
                _M.c.status,
                _M.c.direction,
                _M.c.error_code,
                _M.c.service_sid,
                _M.c.sender_sid,
                _M.c.date_created,
                _M.c.date_sent,
            )
            .where(_M.c.account_sid == account_sid, _M.c.to.in_([number, WHATSAPP + number]))
            .order_by(*_newest_first(connection, by_recipient=True))
            .limit(limit)
        )
    )


def message_bodies(connection: Connection, account_sid: str, sids: Iterable[str]) -> dict[str, str]:
    """The texts of the account's messages `sids` (the words a person opted out with)."""
    wanted = sorted({sid for sid in sids if sid})
    if not wanted:
        return {}
    rows = connection.execute(select(_M.c.sid, _M.c.body).where(_M.c.account_sid == account_sid, _M.c.sid.in_(wanted)))
    return {row.sid: row.body for row in rows}


@dataclass(frozen=True)
class MessageFilter:
    status: str | None = None
    direction: str | None = None
    error_code: int | None = None
    to: str | None = None  # E.164: either channel
    sender: str | None = None  # "from"
    before: tuple[datetime, int] | None = None  # keyset: (date_created, seq) of the last row shown


def recent_messages(session: Session, account_sid: str, chosen: MessageFilter, limit: int = PAGE) -> list[Row[Any]]:
    """The account's messages newest first, filtered; one more than `limit` says there is a next page."""
    connection = session.connection()
    query = select(
        _M.c.seq,
        _M.c.sid,
        _M.c.date_created,
        _M.c.direction,
        _M.c.sender,
        _M.c.to,
        _M.c.body,
        _M.c.status,
        _M.c.error_code,
        _M.c.num_segments,
        _M.c.service_sid,
    ).where(_M.c.account_sid == account_sid)
    if chosen.status:
        query = query.where(_M.c.status == chosen.status)
    if chosen.direction:
        query = query.where(_M.c.direction == chosen.direction)
    if chosen.error_code is not None:
        query = query.where(_M.c.error_code == chosen.error_code)
    if chosen.to:
        query = query.where(_M.c.to.in_([chosen.to, WHATSAPP + chosen.to]))
    if chosen.sender:
        query = query.where(_M.c.sender.in_([chosen.sender, WHATSAPP + chosen.sender]))
    if chosen.before is not None:
        query = query.where(tuple_(_M.c.date_created, _M.c.seq) < tuple_(*chosen.before))
    order = _newest_first(connection, by_recipient=chosen.to is not None)
    return list(connection.execute(query.order_by(*order).limit(limit + 1)))


def message(connection: Connection, account_sid: str, sid: str) -> Row[Any] | None:
    return connection.execute(select(_M).where(_M.c.sid == sid, _M.c.account_sid == account_sid)).first()


def message_events(connection: Connection, message_sid: str) -> list[Row[Any]]:
    """Every status report about the message, applied or not, in order (call after `message` checked the owner)."""
    return list(connection.execute(select(_V).where(_V.c.message_sid == message_sid).order_by(_V.c.id)))
