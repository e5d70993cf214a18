"""Every message toward a phone enters here: gate, route, encode, enqueue.

App sends (the Messages API, bulk notifications) and the gateway's own
confirmations all call `enqueue_send` inside a writer job, so the checks and
the queue row are one transaction: a message the API accepted is durable, and
one it refused left nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from gateway import routing
from gateway.compliance.gates import Address, check_region, parse_recipient
from gateway.compliance.optouts import ensure_subscribed, scope_of
from gateway.dispatch.backlog import Backlog, StickyLoad
from gateway.dispatch.directory import Directory
from gateway.dispatch.outbox import insert_message
from gateway.encoding import segment
from gateway.errors import FromNotOwned, GatewayError, NoSenderAvailable, QueueOverflow, ServiceNotFound
from gateway.ids import new_sid
from gateway.lifecycle import Status
from gateway.store.consent import opted_out_states
from gateway.store.tables import Message, Sender, Service, StickyMapping, core_table

DEFAULT_VALIDITY = 36000

# Statements built once: on the hot path, building a statement costs more than running it.  Their
# parameters never take a column's name: in an INSERT or UPDATE such a name is SQLAlchemy's own
# (tests/test_statements.py compiles and runs every prebuilt statement on both backends).
_INSERT_STICKY = insert(core_table(StickyMapping))
_STICKY = select(StickyMapping.sender_sid, StickyMapping.pinned).where(
    StickyMapping.service_sid == bindparam("service"), StickyMapping.recipient == bindparam("to"))
_STICKIES = select(StickyMapping.service_sid, StickyMapping.recipient, StickyMapping.sender_sid,
                   StickyMapping.pinned).where(
    StickyMapping.service_sid.in_(bindparam("services", expanding=True)),  # type: ignore[attr-defined]
    StickyMapping.recipient.in_(bindparam("recipients", expanding=True)))  # type: ignore[attr-defined]
_MOVE_STICKY = update(core_table(StickyMapping)).where(
    StickyMapping.service_sid == bindparam("service"), StickyMapping.recipient == bindparam("to")
).values(sender_sid=bindparam("sender"), pinned=False, date_updated=bindparam("now"))


@dataclass(frozen=True)
class SendRequest:
    """A send as the API (or the gateway itself) asks for it, syntax already checked."""

    account_sid: str
    to: str
    body: str = ""
    sender: str | None = None  # From, normalized
    service_sid: str | None = None
    media_urls: tuple[str, ...] = ()
    status_callback: str | None = None
    validity_period: int | None = None
    smart_encoded: bool | None = None
    priority: int = 1  # 0: replies and confirmations, before bulk traffic
    reply_to_inbound: bool = False  # geo permissions never block a reply
    allow_opted_out: bool = False  # only the one STOP confirmation
    direction: str = "outbound-api"


class StickyRow(NamedTuple):
    sender_sid: str
    pinned: bool


@dataclass
class Prefetched:
    """What a send batch read once for all its sends: opt-out states by (account, number), and
    sticky mappings by (service, recipient), None where there is none (kept current as the
    batch's sends map recipients)."""

    opted_out: Mapping[tuple[str, str], set[tuple[str, str]]]
    sticky: dict[tuple[str, str], StickyRow | None]


def prefetch(session: Session, requests: Sequence[SendRequest]) -> Prefetched:
    """Read the opt-out states of every recipient and the sticky mappings of every routed send."""
    numbers, keys = set(), set()
    for request in requests:
        try:
            recipient = parse_recipient(request.to)
        except GatewayError:
            continue  # refused by its own enqueue_send
        numbers.add(recipient.number)
        if request.service_sid is not None and request.sender is None:
            keys.add((request.service_sid, recipient.address))
    connection = session.connection()
    sticky: dict[tuple[str, str], StickyRow | None] = dict.fromkeys(keys)
    if keys:
        rows = connection.execute(_STICKIES, {"services": sorted({k[0] for k in keys}),
                                              "recipients": sorted({k[1] for k in keys})})
        for row in rows:
            if (row.service_sid, row.recipient) in sticky:
                sticky[(row.service_sid, row.recipient)] = StickyRow(row.sender_sid, row.pinned)
    return Prefetched(opted_out_states(connection, sorted(numbers)), sticky)


@dataclass
class SubmitContext:
    """What routing reads besides the database: in-memory load, the directory and the policy."""

    backlog: Backlog
    sticky: StickyLoad
    directory: Directory
    alpha_allowed: Callable[[str], bool]
    touched: set[str] = field(default_factory=set)  # senders that got work in this job
    unhealthy: frozenset[str] = frozenset()  # providers routing passes over within a tier (providers/health.py)


def enqueue_send(session: Session, request: SendRequest, context: SubmitContext, now: datetime,
                 defer: list[dict[str, Any]] | None = None, prefetched: Prefetched | None = None) -> Message:
    """Check everything, then write: a refused send raises before its first write, so the
    writer needs no savepoint for it (see `Writer.run(..., clean_on_error=True)`).  With `defer`,
    the message row joins a batch's rows instead (the caller inserts them with one `executemany`)."""
    recipient = parse_recipient(request.to)
    service = _service(session, request, context)
    sender, remember, previous = _pick_sender(session, request, service, recipient, context, prefetched)
    allowed = frozenset(service.allowed_countries.split(",")) if service and service.allowed_countries else None
    check_region(recipient.country, allowed, reply_to_inbound=request.reply_to_inbound)
    if not request.allow_opted_out:
        ensure_subscribed(session, request.account_sid, scope_of(service.sid if service else None, sender.sid),
                          recipient, prefetched.opted_out if prefetched is not None else None)
    smart = request.smart_encoded if request.smart_encoded is not None else bool(service and service.smart_encoding)
    counted = segment(request.body, smart=smart)
    validity = request.validity_period or (service.validity_period if service else DEFAULT_VALIDITY)
    if context.backlog.segments[sender.sid] + counted.segments > sender.mps * validity:
        raise QueueOverflow(f"The sender {sender.address} has {context.backlog.segments[sender.sid]} segments "
                            f"queued, more than it can send at {sender.mps} MPS within {validity} seconds.")

    # Writes from here on.
    if remember and service is not None:
        _remember(session, service.sid, recipient.address, sender.sid, previous, context, now)
        if prefetched is not None:
            prefetched.sticky[(service.sid, recipient.address)] = StickyRow(sender.sid, False)
    row = insert_message(
        session, defer, sid=new_sid("SM"), account_sid=request.account_sid,
        service_sid=service.sid if service else None,
        sender_sid=sender.sid, direction=request.direction, sender=sender.address, to=recipient.address,
        body=counted.text, media="\n".join(request.media_urls), status=Status.QUEUED.value,
        priority=request.priority, num_segments=counted.segments, encoding=counted.encoding,
        status_callback=request.status_callback or (service.status_callback if service else None),
        provider=sender.provider, expires_at=now + timedelta(seconds=validity), date_created=now)
    message = Message.model_construct(**row)  # no validation: every value was just checked
    context.backlog.add(sender.sid, counted.segments)
    context.touched.add(sender.sid)
    return message


def _service(session: Session, request: SendRequest, context: SubmitContext) -> Service | None:
    if request.service_sid is None:
        return None
    service = context.directory.service(session, request.service_sid)
    if service is None or service.account_sid != request.account_sid:
        raise ServiceNotFound(f"The Messaging Service {request.service_sid} does not exist.")
    return service


def _pick_sender(session: Session, request: SendRequest, service: Service | None, recipient: Address,
                 context: SubmitContext, prefetched: Prefetched | None) -> tuple[Sender, bool, str | None]:
    """The sender, whether the sticky mapping must be (re)written, and the sender it maps to now."""
    if request.sender is not None:
        sender = context.directory.sender(session, request.account_sid, request.sender)
        if sender is None or (service is not None and sender.service_sid != service.sid):
            where = f"the Messaging Service {service.sid}" if service else "this account"
            raise FromNotOwned(f"The 'From' number {request.sender} is not a sender of {where}.")
        return sender, False, None
    assert service is not None  # the API requires From or MessagingServiceSid
    pool = context.directory.pool(session, service.sid)
    mapping: StickyRow | None = None
    if service.sticky_sender:
        key = (service.sid, recipient.address)
        if prefetched is not None and key in prefetched.sticky:
            mapping = prefetched.sticky[key]
        else:
            found = session.connection().execute(_STICKY, {"service": service.sid, "to": recipient.address}).first()
            mapping = StickyRow(found.sender_sid, found.pinned) if found is not None else None
        if mapping is not None and mapping.pinned and mapping.sender_sid in pool:
            return pool[mapping.sender_sid], False, None  # staff chose it: routing never moves it
    load = context.sticky.of(session, service.sid) if service.sticky_sender else context.backlog.segments
    try:
        route = routing.choose_sender(
            [candidate(s.sid, s.address, s.kind, s.country) for s in pool.values()],
            routing.Recipient(recipient.address, recipient.country, recipient.area_code),
            sticky=mapping.sender_sid if mapping else None, sticky_sender=service.sticky_sender,
            area_code_geomatch=service.area_code_geomatch, alpha_allowed=context.alpha_allowed(recipient.country),
            load=load,
            avoid=[s.sid for s in pool.values() if s.provider in context.unhealthy] if context.unhealthy else ())
    except routing.Unroutable as exc:
        raise NoSenderAvailable(str(exc)) from None
    return pool[route.sender.sid], route.new_sticky, mapping.sender_sid if mapping else None


def _remember(session: Session, service_sid: str, recipient: str, sender_sid: str, previous: str | None,
              context: SubmitContext, now: datetime) -> None:
    counts = context.sticky.of(session, service_sid)
    values = {"service_sid": service_sid, "recipient": recipient, "sender_sid": sender_sid, "pinned": False,
              "date_updated": now}
    if previous is None:
        session.connection().execute(_INSERT_STICKY, values)
    else:
        counts[previous] -= 1
        session.connection().execute(_MOVE_STICKY, {"service": service_sid, "to": recipient, "sender": sender_sid,
                                                    "now": now})
    counts[sender_sid] += 1


@lru_cache(maxsize=4096)
def candidate(sender_sid: str, address: str, kind: str, country: str | None) -> routing.Candidate:
    area = routing.area_code(address.removeprefix("whatsapp:")) if country in ("US", "CA") else None
    return routing.Candidate(sender_sid, address, routing.SenderKind(kind), country, area)
