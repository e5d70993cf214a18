"""Every message toward a phone enters here: gate, route, encode, enqueue.

App sends (the Messages API, bulk notifications) and the gateway's own
confirmations all call `enqueue_send` inside a writer job, so the checks and
the queue row are one transaction: a message the API accepted is durable, and
one it refused left nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from gateway import routing
from gateway.compliance.gates import Address, check_region, parse_recipient
from gateway.compliance.optouts import ensure_subscribed, scope_of
from gateway.dispatch.backlog import Backlog, StickyLoad
from gateway.encoding import segment
from gateway.errors import FromNotOwned, NoSenderAvailable, QueueOverflow, ServiceNotFound
from gateway.ids import new_sid
from gateway.providers.base import Status
from gateway.store.tables import Message, Sender, Service, StickyMapping

DEFAULT_VALIDITY = 36000


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


@dataclass
class SubmitContext:
    """What routing reads besides the database: in-memory load and the policy."""

    backlog: Backlog
    sticky: StickyLoad
    alpha_allowed: Callable[[str], bool]
    touched: set[str] = field(default_factory=set)  # senders that got work in this job


def enqueue_send(session: Session, request: SendRequest, context: SubmitContext, now: datetime) -> Message:
    recipient = parse_recipient(request.to)
    service = _service(session, request)
    sender = _pick_sender(session, request, service, recipient, context, now)
    allowed = frozenset(service.allowed_countries.split(",")) if service and service.allowed_countries else None
    check_region(recipient.country, allowed, reply_to_inbound=request.reply_to_inbound)
    if not request.allow_opted_out:
        scope = scope_of(service.sid if service else None, sender.sid)
        ensure_subscribed(session, request.account_sid, scope, recipient)

    smart = request.smart_encoded if request.smart_encoded is not None else bool(service and service.smart_encoding)
    counted = segment(request.body, smart=smart)
    validity = request.validity_period or (service.validity_period if service else DEFAULT_VALIDITY)
    waiting = context.backlog.segments[sender.sid] + counted.segments
    if waiting > sender.mps * validity:
        raise QueueOverflow(f"The sender {sender.address} has {context.backlog.segments[sender.sid]} segments "
                            f"queued, more than it can send at {sender.mps} MPS within {validity} seconds.")
    message = Message(
        sid=new_sid("SM"), account_sid=request.account_sid, service_sid=service.sid if service else None,
        sender_sid=sender.sid, direction=request.direction, sender=sender.address, to=recipient.address,
        body=counted.text, media="\n".join(request.media_urls), status=Status.QUEUED.value,
        priority=request.priority, num_segments=counted.segments, encoding=counted.encoding,
        status_callback=request.status_callback or (service.status_callback if service else None),
        provider=sender.provider, expires_at=now + timedelta(seconds=validity),
        date_created=now, date_updated=now)
    session.add(message)
    context.backlog.add(sender.sid, counted.segments)
    context.touched.add(sender.sid)
    return message


def _service(session: Session, request: SendRequest) -> Service | None:
    if request.service_sid is None:
        return None
    service = session.get(Service, request.service_sid)
    if service is None or service.account_sid != request.account_sid:
        raise ServiceNotFound(f"The Messaging Service {request.service_sid} does not exist.")
    return service


def _pick_sender(session: Session, request: SendRequest, service: Service | None, recipient: Address,
                 context: SubmitContext, now: datetime) -> Sender:
    if request.sender is not None:
        sender = session.execute(select(Sender).where(Sender.account_sid == request.account_sid,
                                                      Sender.address == request.sender)).scalar_one_or_none()
        if sender is None or (service is not None and sender.service_sid != service.sid):
            where = f"the Messaging Service {service.sid}" if service else "this account"
            raise FromNotOwned(f"The 'From' number {request.sender} is not a sender of {where}.")
        return sender
    assert service is not None  # the API requires From or MessagingServiceSid
    pool = {s.sid: s for s in session.execute(select(Sender).where(Sender.service_sid == service.sid)).scalars()}
    mapping = session.get(StickyMapping, (service.sid, recipient.address)) if service.sticky_sender else None
    load = context.sticky.of(session, service.sid) if service.sticky_sender else context.backlog.segments
    try:
        route = routing.choose_sender(
            [candidate(s) for s in pool.values()],
            routing.Recipient(recipient.address, recipient.country, recipient.area_code),
            sticky=mapping.sender_sid if mapping else None, sticky_sender=service.sticky_sender,
            area_code_geomatch=service.area_code_geomatch, alpha_allowed=context.alpha_allowed(recipient.country),
            load=load)
    except routing.NoSenderAvailable as exc:
        raise NoSenderAvailable(str(exc)) from None
    if route.new_sticky and not (mapping and mapping.pinned):
        _remember(session, service.sid, recipient.address, route.sender.sid, mapping, context, now)
    return pool[route.sender.sid]


def _remember(session: Session, service_sid: str, recipient: str, sender_sid: str, mapping: StickyMapping | None,
              context: SubmitContext, now: datetime) -> None:
    counts = context.sticky.of(session, service_sid)
    if mapping is None:
        mapping = StickyMapping(service_sid=service_sid, recipient=recipient, sender_sid=sender_sid, date_updated=now)
    else:
        counts[mapping.sender_sid] -= 1
        mapping.sender_sid, mapping.date_updated = sender_sid, now
    counts[sender_sid] += 1
    session.add(mapping)


def candidate(sender: Sender) -> routing.Candidate:
    area = routing.area_code(sender.address.removeprefix("whatsapp:")) if sender.country in ("US", "CA") else None
    return routing.Candidate(sender.sid, sender.address, routing.SenderKind(sender.kind), sender.country, area)
