"""An account's senders, Messaging Services and sticky mappings: the reads of the API and the
console, and the statements of the registry's writer jobs (`api.numbers`, `api.services`,
`api.pool`); what routing reads and writes on the send path (`dispatch.directory`,
`dispatch.submit`); and the configuration generation that tells processes to drop those caches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Connection, Row
from sqlmodel import Session, col

from gateway.store.db import per_dialect
from gateway.store.rows import Batch
from gateway.store.tables import AnyRow, Generation, Sender, Service, StickyMapping, core_table

_SENDER = core_table(Sender)
_SERVICE = core_table(Service)
ALPHA = "alpha"


# -- reads ----------------------------------------------------------------------------------------


def numbers(session: Session, account_sid: str) -> list[Sender]:
    """The account's registered phone numbers (IncomingPhoneNumbers: sids PN…), oldest first."""
    return list(
        session.execute(
            select(Sender)
            .where(col(Sender.account_sid) == account_sid, col(Sender.sid).startswith("PN"))
            .order_by(col(Sender.date_created))
        ).scalars()
    )


def services(session: Session, account_sid: str) -> list[Service]:
    """The account's Messaging Services, oldest first."""
    return list(
        session.execute(
            select(Service).where(col(Service.account_sid) == account_sid).order_by(col(Service.date_created))
        ).scalars()
    )


def pool(session: Session, service_sid: str, kinds: Sequence[str]) -> list[Sender]:
    """The service's senders of these kinds, oldest first."""
    return list(
        session.execute(
            select(Sender)
            .where(col(Sender.service_sid) == service_sid, col(Sender.kind).in_(kinds))
            .order_by(col(Sender.date_created))
        ).scalars()
    )


def sticky_mappings(
    session: Session, service_sid: str, to: str | None = None, limit: int = 1000
) -> list[tuple[StickyMapping, Sender]]:
    """The service's sticky mappings (one recipient's when `to` is given) with their senders, by recipient."""
    query = (
        select(StickyMapping, Sender)
        .join(Sender, col(Sender.sid) == StickyMapping.sender_sid)
        .where(col(StickyMapping.service_sid) == service_sid)
    )
    if to:
        query = query.where(col(StickyMapping.recipient) == to)
    return [
        (mapping, sender)
        for mapping, sender in session.execute(query.order_by(StickyMapping.recipient).limit(limit)).all()
    ]


@dataclass(frozen=True)
class Scope:
    sid: str
    label: str
    kind: str  # service | sender


def scopes(session: Session, account_sid: str) -> list[Scope]:
    """The account's Messaging Services and senders: what an opt-out can be scoped to."""
    connection = session.connection()
    found = connection.execute(
        select(_SERVICE.c.sid, _SERVICE.c.friendly_name)
        .where(_SERVICE.c.account_sid == account_sid)
        .order_by(_SERVICE.c.friendly_name)
    )
    senders = connection.execute(
        select(_SENDER.c.sid, _SENDER.c.address).where(_SENDER.c.account_sid == account_sid).order_by(_SENDER.c.address)
    )
    return [Scope(row.sid, row.friendly_name, "service") for row in found] + [
        Scope(row.sid, row.address, "sender") for row in senders
    ]


def sender_countries(session: Session, account_sid: str) -> list[str]:
    """The countries of the account's senders, most senders first: where a local number likely is."""
    rows = session.connection().execute(
        select(_SENDER.c.country, func.count())
        .where(_SENDER.c.account_sid == account_sid, _SENDER.c.country.is_not(None))
        .group_by(_SENDER.c.country)
        .order_by(func.count().desc(), _SENDER.c.country)
    )
    return [row[0] for row in rows]


def senders(session: Session, account_sid: str) -> list[Row[Any]]:
    """The account's senders by address, with what the console shows of them."""
    return list(
        session.connection().execute(
            select(
                _SENDER.c.sid,
                _SENDER.c.address,
                _SENDER.c.kind,
                _SENDER.c.country,
                _SENDER.c.mps,
                _SENDER.c.service_sid,
                _SENDER.c.provider,
            )
            .where(_SENDER.c.account_sid == account_sid)
            .order_by(_SENDER.c.address)
        )
    )


def first_service(session: Session, account_sid: str) -> Service | None:
    """One of the account's services (the demo's account has one)."""
    return session.execute(select(Service).where(col(Service.account_sid) == account_sid)).scalars().first()


def service_members(session: Session, service_sid: str) -> list[Sender]:
    """Every sender of the service's pool."""
    return list(session.execute(select(Sender).where(col(Sender.service_sid) == service_sid)).scalars())


def receiving(session: Session, address: str) -> list[Sender]:
    """The senders that can receive at `address`, one per provider at most (`uq_sender_receiving`):
    alphanumeric senders cannot."""
    return list(
        session.execute(select(Sender).where(col(Sender.address) == address, col(Sender.kind) != ALPHA)).scalars()
    )


def account_sender(session: Session, account_sid: str, address: str) -> Sender | None:
    """The account's sender at `address`."""
    found: Sender | None = session.execute(
        select(Sender).where(col(Sender.account_sid) == account_sid, col(Sender.address) == address)
    ).scalar_one_or_none()
    return found


def service(session: Session, sid: str) -> Service | None:
    """The service `sid` (the caller knows it is its account's)."""
    return session.get(Service, sid)


def is_scope(session: Session, account_sid: str, sid: str) -> bool:
    """Whether `sid` is a Messaging Service or a sender of the account."""
    return any(
        session.execute(
            select(col(table.sid)).where(col(table.sid) == sid, col(table.account_sid) == account_sid)
        ).first()
        for table in (Service, Sender)
    )


# -- the writer's -----------------------------------------------------------------------------------


def address_of_account(session: Session, account_sid: str, address: str) -> bool:
    """Whether the account already registered `address`."""
    return (
        session.execute(
            select(col(Sender.sid)).where(col(Sender.account_sid) == account_sid, col(Sender.address) == address)
        ).first()
        is not None
    )


def receiving_address_with(session: Session, address: str, provider: str) -> bool:
    """Whether a sender that receives (not an alpha sender) has `address` with `provider`, in any account."""
    return (
        session.execute(
            select(col(Sender.sid)).where(
                col(Sender.address) == address, col(Sender.provider) == provider, col(Sender.kind) != ALPHA
            )
        ).first()
        is not None
    )


def has_alpha(session: Session, service_sid: str) -> bool:
    """Whether the service's pool holds an alpha sender."""
    return (
        session.execute(
            select(col(Sender.sid)).where(col(Sender.service_sid) == service_sid, col(Sender.kind) == ALPHA)
        ).first()
        is not None
    )


def pool_member(session: Session, service_sid: str, wanted: str) -> Sender | None:
    """The service's sender whose sid or address is `wanted`."""
    found: Sender | None = session.execute(
        select(Sender).where(
            col(Sender.service_sid) == service_sid, (col(Sender.sid) == wanted) | (col(Sender.address) == wanted)
        )
    ).scalar()
    return found


def forget_sticky(
    session: Session, *, service_sid: str | None = None, sender_sid: str | None = None, recipient: str | None = None
) -> None:
    """Delete the sticky mappings of a service (of one recipient in it), or of a sender."""
    if service_sid is None and sender_sid is None:
        raise ValueError("forget_sticky needs a service or a sender: it would delete every mapping")
    statement = delete(StickyMapping)
    for column, value in (
        (StickyMapping.service_sid, service_sid),
        (StickyMapping.sender_sid, sender_sid),
        (StickyMapping.recipient, recipient),
    ):
        if value is not None:
            statement = statement.where(col(column) == value)
    session.execute(statement)


def remove_service(session: Session, found: Service) -> None:
    """Delete a service: its sticky mappings go, its senders stay, out of any pool."""
    forget_sticky(session, service_sid=found.sid)
    session.execute(update(Sender).where(col(Sender.service_sid) == found.sid).values(service_sid=None))
    session.delete(found)


def remove_sender(session: Session, sender: Sender) -> None:
    """Delete a sender and its sticky mappings."""
    forget_sticky(session, sender_sid=sender.sid)
    session.delete(sender)


# -- sticky mappings on the send path ----------------------------------------------------------------
# Built once: on the hot path, building a statement costs more than running it.  Their parameters
# never take a column's name: in an INSERT or UPDATE such a name is SQLAlchemy's own
# (tests/store/test_statements.py compiles and runs every prebuilt statement on both backends).

_K = core_table(StickyMapping)
_STICKY = select(_K.c.sender_sid, _K.c.pinned).where(
    _K.c.service_sid == bindparam("service"), _K.c.recipient == bindparam("to")
)
_STICKIES = select(_K.c.service_sid, _K.c.recipient, _K.c.sender_sid, _K.c.pinned).where(
    _K.c.service_sid.in_(bindparam("services", expanding=True)),
    _K.c.recipient.in_(bindparam("recipients", expanding=True)),
)


def _sticky_upsert(insert: Any) -> Any:
    statement = insert(_K)
    return statement.on_conflict_do_update(
        index_elements=[_K.c.service_sid, _K.c.recipient],
        set_={name: statement.excluded[name] for name in ("sender_sid", "pinned", "date_updated")},
    )


_STICKY_UPSERTS = per_dialect(_sticky_upsert)
_REMEMBER = {name: Batch(statement) for name, statement in _STICKY_UPSERTS.items()}


def sticky(connection: Connection, service_sid: str, recipient: str) -> AnyRow | None:
    """(sender_sid, pinned) of the service's mapping for `recipient`, if any."""
    return connection.execute(_STICKY, {"service": service_sid, "to": recipient}).first()


def stickies(connection: Connection, services: list[str], recipients: list[str]) -> list[AnyRow]:
    """The mappings of any of `services` to any of `recipients` (a send batch's, read at once)."""
    return list(connection.execute(_STICKIES, {"services": services, "recipients": recipients}))


def remember_stickies(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Point each row's (service, recipient) at its sender, as the row says (unpinned): a mapping not
    there is added, one there is moved.  A send batch's mappings go in one `executemany`; one row
    per key (PostgreSQL refuses to upsert a row twice in one statement: the batch keeps the last)."""
    _REMEMBER[connection.dialect.name].write(connection, rows)


# -- the configuration's generation: bumped by every change above, read by every process's caches --

_G = core_table(Generation)
_GENERATION = select(_G.c.value).where(_G.c.name == "config")
_BUMP = update(_G).where(_G.c.name == "config").values(value=_G.c.value + 1)


def generation(connection: Connection) -> int | None:
    return connection.execute(_GENERATION).scalar()


def bump_generation(connection: Connection) -> None:
    connection.execute(_BUMP)
