"""Short links and their clicks: what a send writes, what a redirect reads, what a click records."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from gateway.lifecycle import Status
from gateway.store.tables import AnyRow, Link, LinkClick, Message, MessageEvent, Service, core_table

_L, _C = core_table(Link), core_table(LinkClick)
_M, _E, _S = core_table(Message), core_table(MessageEvent), core_table(Service)
_INSERT_LINKS = insert(_L)
_INSERT_CLICKS = insert(_C)
_TARGET = (
    select(_L.c.url, _L.c.expires_at, _S.c.link_fallback_url)
    .join(_S, _S.c.sid == _L.c.service_sid)
    .where(_L.c.code == bindparam("code"))
)
_DELIVERED_AT = (
    select(func.min(_E.c.at))
    .where(_E.c.message_sid == _L.c.message_sid, _E.c.status == Status.DELIVERED.value, _E.c.applied)
    .scalar_subquery()
)
_CLICKED = (
    select(
        _L.c.code,
        _L.c.url,
        _L.c.shortened,
        _L.c.date_created,
        _L.c.message_sid,
        _M.c.account_sid,
        _M.c.service_sid,
        _M.c.to,
        _M.c.sender,
        _M.c.request_id,
        _S.c.click_callback_url,
        _DELIVERED_AT.label("delivered_at"),
    )
    .select_from(_L)
    .join(_M, _M.c.sid == _L.c.message_sid)
    .join(_S, _S.c.sid == _L.c.service_sid)
    .where(_L.c.code.in_(bindparam("codes", expanding=True)))
)


def add(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """The short links of one message, with one `executemany`."""
    connection.execute(_INSERT_LINKS, rows)


def target(session: Session, code: str) -> AnyRow | None:
    """Where a code leads: (url, expires_at, link_fallback_url of its service), or None."""
    return session.connection().execute(_TARGET, {"code": code}).first()


def clicked(connection: Connection, codes: list[str]) -> dict[str, AnyRow]:
    """What click events say about each link: the link, its message, the service's click callback
    URL and when the message was reported delivered (None: not yet)."""
    return {row.code: row for row in connection.execute(_CLICKED, {"codes": sorted(set(codes))})}


def add_clicks(connection: Connection, rows: list[dict[str, Any]]) -> None:
    connection.execute(_INSERT_CLICKS, rows)
