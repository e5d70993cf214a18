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

from sqlmodel import Session

from gateway import routing
from gateway.compliance.gates import Address, number_verdict, parse_recipient, region_verdict
from gateway.compliance.mms import media_verdict
from gateway.compliance.optouts import opt_out_verdict, scope_of
from gateway.compliance.quiet_hours import TrafficType, quiet_hours_verdict, service_windows
from gateway.compliance.reasons import Reason
from gateway.compliance.sender_id import alpha_usable, registered_countries, sender_id_verdict
from gateway.compliance.verdicts import (
    HOLD,
    PASS,
    QUEUE,
    REFUSE,
    ROUTE,
    SCHEDULE,
    SKIP,
    Verdict,
    holding,
    outcome,
    refusal,
)
from gateway.dates import iso8601
from gateway.dispatch.directory import Directory
from gateway.encoding import Segmentation, segment
from gateway.errors import (
    FromNotOwned,
    GatewayError,
    NoSenderAvailable,
    QueueOverflow,
    ScheduledLimitReached,
    ServiceNotFound,
)
from gateway.ids import new_sid
from gateway.lifecycle import SCHEDULED_LIMIT, Hold, Status
from gateway.links import LinkDefaults, ShortLink, domain_for, shorten
from gateway.media import converted_body, pack
from gateway.observability import metrics
from gateway.observability.logs import REQUEST_ID
from gateway.outbox.backlog import Backlog, StickyLoad
from gateway.outbox.messages import insert_message
from gateway.policy.model import Policy
from gateway.senders import sends_mms
from gateway.store import holds as hold_rows
from gateway.store import links as link_rows
from gateway.store import senders as sender_rows
from gateway.store.consent import opted_out_states
from gateway.store.tables import Message, Sender, Service

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
    media_types: tuple[str, ...] = ()  # each item's Content-Type, when the media check read them
    status_callback: str | None = None
    validity_period: int | None = None
    smart_encoded: bool | None = None
    priority: int = 1  # 0: replies and confirmations, before bulk traffic
    reply_to_inbound: bool = False  # geo permissions never block a reply
    allow_opted_out: bool = False  # only the one STOP confirmation
    direction: str = "outbound-api"
    hold: Hold | None = None  # the app scheduled it (SendAt): stored `scheduled` until then
    traffic_type: TrafficType | None = None  # marketing | transactional; None: the service's TrafficType
    shorten_urls: bool = False  # ShortenUrls: each http(s) link becomes a short link of the service's domain
    #: The HTTP request that asked for it: by default the one being served (`observability.logs`).
    request_id: str | None = field(default_factory=REQUEST_ID.get)


class StickyRow(NamedTuple):
    sender_sid: str
    pinned: bool


@dataclass
class Prefetched:
    """What a send batch read once for all its sends: opt-out states by (account, number), sticky
    mappings by (service, recipient), None where there is none (kept current as the batch's sends
    map recipients), and the accounts' scheduled messages.  The mappings the batch's sends made
    wait in `remembered` for the batch's one write (`write_remembered`)."""

    opted_out: Mapping[tuple[str, str], set[tuple[str, str]]]
    sticky: dict[tuple[str, str], StickyRow | None]
    #: Messages each account with a scheduled send in the batch has scheduled waiting (35125), kept
    #: current as the batch schedules more.
    scheduled: dict[str, int] = field(default_factory=dict)
    remembered: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def write_remembered(session: Session, prefetched: Prefetched) -> None:
    """The sticky mappings the batch's sends made, in one statement (a recipient mapped twice: the last)."""
    if prefetched.remembered:
        sender_rows.remember_stickies(session.connection(), list(prefetched.remembered.values()))


def prefetch(session: Session, requests: Sequence[SendRequest]) -> Prefetched:
    """Read the opt-out states of every recipient, the sticky mappings of every routed send, and
    the scheduled messages of every account scheduling one."""
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
        rows = sender_rows.stickies(connection, sorted({k[0] for k in keys}), sorted({k[1] for k in keys}))
        for row in rows:
            if (row.service_sid, row.recipient) in sticky:
                sticky[(row.service_sid, row.recipient)] = StickyRow(row.sender_sid, row.pinned)
    scheduling = sorted({request.account_sid for request in requests if request.hold is not None})
    return Prefetched(
        opted_out_states(connection, sorted(numbers)), sticky, hold_rows.scheduled_by_app(connection, scheduling)
    )


@dataclass
class SubmitContext:
    """What routing reads besides the database: in-memory load, the directory and the policy."""

    backlog: Backlog
    sticky: StickyLoad
    directory: Directory
    alpha_allowed: Callable[[str], bool]
    touched: set[str] = field(default_factory=set)  # senders that got work in this job
    unhealthy: frozenset[str] = frozenset()  # providers routing passes over within a tier (providers/health.py)
    scheduled_limit: int = SCHEDULED_LIMIT  # messages an account may have scheduled waiting (35125)
    policy: Policy | None = None  # the revision in force: the settings' file:line an explanation cites
    links: LinkDefaults | None = None  # the gateway's link domain and lifetime (ShortenUrls); None: links kept


@dataclass
class Plan:
    """What a send would do and why, decided without writing anything: every gate's verdict in
    the order the send checks them, the sender, the encoding.  `enqueue_send` acts on it;
    Explain (`gateway.dispatch.explain`) only shows it, so the two cannot disagree."""

    request: SendRequest
    recipient: Address
    service: Service | None
    sender: Sender | None  # None when routing refused
    remember: bool  # record (or move) the sticky mapping recipient → sender
    previous: str | None  # the sender the sticky mapping names now
    counted: (
        Segmentation  # of the body as sent: the MMS Converter's, links included, when it converts, after shortening
    )
    converted: bool  # the media go as links in an SMS (compliance.mms)
    smart: tuple[bool, str]  # SmartEncoded, and where that choice came from
    validity: int
    verdicts: list[Verdict]
    now: datetime
    policy_revision: str | None
    links: tuple[ShortLink, ...] = ()  # the short links the body carries instead of the app's

    def reasons(self) -> dict[str, Any]:
        """The explanation as JSON: what Explain answers and what the message row keeps."""
        route = next(v for v in self.verdicts if v.gate == ROUTE)
        return {
            "decided_at": iso8601(self.now),
            "policy_revision": self.policy_revision,
            "route": route.as_json(),
            "gates": [v.as_json() for v in self.verdicts if v.gate != ROUTE],
            "encoding": {
                "encoding": self.counted.encoding,
                "segments": self.counted.segments,
                "smart_encoded": self.smart[0],
                "source": self.smart[1],
                **({"shortened_links": len(self.links)} if self.links else {}),
            },
            "outcome": outcome(self.verdicts, self.now),
        }

    def hold(self) -> Hold | None:
        """Until when the send waits, if a gate held it: the latest of the holding verdicts, whose
        source (the app's SendAt, or the rule) is recorded on the message as what held it."""
        last = holding(self.verdicts)
        return Hold(datetime.fromisoformat(last.facts["until"]), last.source) if last is not None else None


def plan_send(
    session: Session, request: SendRequest, context: SubmitContext, now: datetime, prefetched: Prefetched | None = None
) -> Plan:
    """Gate, route and encode a send without writing: each check returns its verdict, and every
    check runs even after one refused (an explanation shows them all; the send answers the
    first refusal).  Raises only for what is not a send at all (an unknown service)."""
    recipient = parse_recipient(request.to)
    service = _service(session, request, context)
    verdicts = [number_verdict(recipient)]
    sender, remember, previous, route = _pick_sender(session, request, service, recipient, context, prefetched)
    verdicts.append(route)
    allowed = frozenset(service.allowed_countries.split(",")) if service and service.allowed_countries else None
    verdicts.append(
        region_verdict(
            recipient.country,
            allowed,
            reply_to_inbound=request.reply_to_inbound,
            source=f"service {service.sid}: GeoPermissions"
            if service
            else "no Messaging Service: every country is permitted",
        )
    )
    if request.allow_opted_out:
        verdicts.append(_CONFIRMATION_GOES)
    elif service is None and sender is None:
        verdicts.append(_NO_SCOPE)
    else:
        verdicts.append(
            opt_out_verdict(
                session,
                request.account_sid,
                scope_of(service.sid if service else None, sender.sid if sender else ""),
                recipient,
                prefetched.opted_out if prefetched is not None else None,
            )
        )
    if context.policy is not None:
        verdicts += _policy_verdicts(request, recipient, service, sender, context.policy, now)
    converted = False
    if request.media_urls and sender is not None:
        media = _media_verdict(request, recipient, service, sender, context.policy)
        verdicts.append(media)
        converted = bool(media.facts["converted"])
    if request.smart_encoded is not None:
        smart, smart_source = request.smart_encoded, "request: SmartEncoded"
    else:
        smart, smart_source = (
            bool(service and service.smart_encoding),
            (f"service {service.sid}: SmartEncoding" if service else "default: SmartEncoding off"),
        )
    body = converted_body(request.body, request.media_urls) if converted else request.body
    links = tuple[ShortLink, ...]()
    if request.shorten_urls and service is not None and context.links is not None:
        body, links = shorten_for(body, service, context.links)
    counted = segment(body, smart=smart)
    validity = request.validity_period or (service.validity_period if service else DEFAULT_VALIDITY)
    if request.hold is not None:
        waiting = prefetched.scheduled.get(request.account_sid, 0) if prefetched is not None else None
        verdicts.append(_schedule_verdict(request.hold, waiting, context.scheduled_limit))
    if sender is None:
        verdicts.append(_NO_QUEUE)
    elif any(v.verdict == HOLD for v in verdicts):
        verdicts.append(_HELD_QUEUE)
    else:
        verdicts.append(_queue_verdict(sender, counted.segments, validity, context.backlog))
    return Plan(
        request,
        recipient,
        service,
        sender,
        remember,
        previous,
        counted,
        converted,
        (smart, smart_source),
        validity,
        verdicts,
        now,
        context.policy.revision if context.policy is not None else None,
        links,
    )


def enqueue_send(
    session: Session,
    request: SendRequest,
    context: SubmitContext,
    now: datetime,
    defer: list[dict[str, Any]] | None = None,
    prefetched: Prefetched | None = None,
) -> Message:
    """Plan, then write: a refused send raises its first refusal before any write, so the
    writer needs no savepoint for it (see `Writer.run(..., clean_on_error=True)`).  With `defer`,
    the message row joins a batch's rows instead (the caller inserts them with one `executemany`).
    The row keeps the plan's reasons."""
    plan = plan_send(session, request, context, now, prefetched)
    refused = refusal(plan.verdicts)
    if refused is not None:
        assert refused.error is not None
        raise refused.error
    sender, service, recipient, counted = plan.sender, plan.service, plan.recipient, plan.counted
    assert sender is not None  # routing refuses when there is none
    hold = plan.hold()  # a held message waits as `scheduled`, out of its sender's queue (dispatch.holds)

    # Writes from here on.
    if plan.remember and service is not None:
        mapping = _remember(session, service.sid, recipient.address, sender.sid, plan.previous, context, now)
        if prefetched is None:
            sender_rows.remember_stickies(session.connection(), [mapping])
        else:  # written with the batch's other mappings (`write_remembered`)
            prefetched.sticky[(service.sid, recipient.address)] = StickyRow(sender.sid, False)
            prefetched.remembered[(service.sid, recipient.address)] = mapping
    row = insert_message(
        session,
        defer,
        sid=new_sid("SM"),
        account_sid=request.account_sid,
        service_sid=service.sid if service else None,
        sender_sid=sender.sid,
        direction=request.direction,
        sender=sender.address,
        to=recipient.address,
        body=counted.text,
        media="" if plan.converted else pack(request.media_urls, request.media_types),
        status=(Status.SCHEDULED if hold else Status.QUEUED).value,
        priority=request.priority,
        num_segments=counted.segments,
        encoding=counted.encoding,
        status_callback=request.status_callback or (service.status_callback if service else None),
        provider=sender.provider,
        expires_at=(hold.until if hold else now) + timedelta(seconds=plan.validity),
        send_at=hold.until if hold else None,
        hold_reason=hold.reason if hold else None,
        date_created=now,
        reasons=plan.reasons(),
        request_id=request.request_id,
        shorten_urls=request.shorten_urls,
    )
    message = Message.model_construct(**row)  # no validation: every value was just checked
    if request.hold is not None and prefetched is not None:
        prefetched.scheduled[request.account_sid] = prefetched.scheduled.get(request.account_sid, 0) + 1
    if plan.links and service is not None and context.links is not None:
        write_links(session, plan.links, context.links, message, now=now)
    metrics.status_changed(session, row["status"], None)
    if hold is None:
        context.backlog.add(sender.sid, counted.segments)
        context.touched.add(sender.sid)
    return message


def shorten_for(text: str, service: Service, defaults: LinkDefaults) -> tuple[str, tuple[ShortLink, ...]]:
    """`text` with its links shortened on the service's domain (`ShortenUrls`): a send's body,
    and the links the MMS Converter adds when the provider refuses the MMS (`outcomes.refused`)."""
    return shorten(text, domain_for(defaults, service.link_domain, service.disable_https))


def write_links(
    session: Session, links: tuple[ShortLink, ...], defaults: LinkDefaults, message: Message, *, now: datetime
) -> None:
    """The short links `message`'s body carries, in the caller's transaction (so no link exists
    for a message that was not written); they redirect for the links' lifetime from `now`."""
    assert message.service_sid is not None  # shortening is a Messaging Service feature
    expires_at = now + defaults.lifetime
    link_rows.add(
        session.connection(),
        [
            {
                "code": link.code,
                "account_sid": message.account_sid,
                "service_sid": message.service_sid,
                "message_sid": message.sid,
                "url": link.url,
                "shortened": link.shortened,
                "date_created": now,
                "expires_at": expires_at,
            }
            for link in links
        ],
    )


def _policy_verdicts(
    request: SendRequest,
    recipient: Address,
    service: Service | None,
    sender: Sender | None,
    policy: Policy,
    now: datetime,
) -> list[Verdict]:
    """The policy's verdicts for the send's TrafficType (the request's, else the service's, else
    transactional) at the moment it would go (an app-scheduled send: its SendAt)."""
    if request.traffic_type is not None:
        traffic, source = request.traffic_type, "request: TrafficType"
    elif service is not None:
        traffic, source = TrafficType(service.traffic_type), f"service {service.sid}: TrafficType"
    else:
        traffic, source = TrafficType.TRANSACTIONAL, "default: TrafficType transactional"
    at = request.hold.until if request.hold is not None else now  # a scheduled send is judged when it goes
    return policy_verdicts(
        policy,
        recipient,
        (traffic, source),
        at,
        reply=request.reply_to_inbound,
        service=(service.sid, service.quiet_hours) if service is not None else None,
        sender=(sender.kind, sender.address, sender.registered_countries) if sender is not None else None,
    )


def policy_verdicts(
    policy: Policy,
    recipient: Address,
    traffic: tuple[TrafficType, str],
    at: datetime,
    *,
    reply: bool,
    service: tuple[str, str | None] | None,
    sender: tuple[str, str, str | None] | None,
) -> list[Verdict]:
    """Quiet hours for `traffic` (and where its value came from) at `at`, with the service's own
    windows (its sid and `QuietHours`), and the sender-ID rules of the recipient's country for the
    sender (its kind, address and `registered_countries`): what a send is judged by, and a held
    message again when it comes due (`dispatch.holds`), with the policy then in force."""
    own = service_windows(service[0], service[1]) if service is not None and service[1] else None
    verdicts = [quiet_hours_verdict(recipient.number, traffic[0], traffic[1], at, policy, reply=reply, own=own)]
    if sender is not None:
        kind, address, registered = sender
        verdicts.append(sender_id_verdict(policy, recipient.country, kind, address, registered_countries(registered)))
    return verdicts


def _media_verdict(
    request: SendRequest, recipient: Address, service: Service | None, sender: Sender, policy: Policy | None
) -> Verdict:
    return media_verdict(
        count=len(request.media_urls),
        channel=recipient.channel,
        country=recipient.country,
        sender=sender.address,
        sender_mms=sends_mms(sender.kind, sender.mms, sender.provider),
        converter=service is not None and service.mms_converter,
        converter_source=f"service {service.sid}: MmsConverter"
        if service
        else "no Messaging Service: no MMS Converter",
        policy=policy,
    )


_CONFIRMATION_GOES = Verdict("opt_out", SKIP, Reason("opt_out.confirmation"), "gateway: STOP confirmation")
_NO_SCOPE = Verdict("opt_out", SKIP, Reason("opt_out.no_scope"), "routing refused")
_PINNED = Reason("route.pinned")
_NO_QUEUE = Verdict(QUEUE, SKIP, Reason("queue.none"), "routing refused")
_HELD_QUEUE = Verdict(QUEUE, SKIP, Reason("queue.held"), "hold")


def _schedule_verdict(hold: Hold, waiting: int | None, limit: int) -> Verdict:
    """The app's `SendAt` holds the send, unless the account has `limit` scheduled messages waiting
    already (35125; `waiting` None: not counted, a send the app did not schedule)."""
    if waiting is not None and waiting >= limit:
        error = ScheduledLimitReached(Reason("schedule.limit", waiting=waiting, limit=limit))
        facts = {"scheduled_waiting": waiting, "limit": limit}
        return Verdict(SCHEDULE, REFUSE, error.message, "GATEWAY_SCHEDULED_LIMIT", facts, error)
    until = iso8601(hold.until)
    return Verdict(SCHEDULE, HOLD, Reason("schedule.at", at=until), hold.reason, {"until": until})


def _queue_verdict(sender: Sender, segments: int, validity: int, backlog: Backlog) -> Verdict:
    """21611 when the sender's queue could not drain within the message's validity period."""
    queued, capacity = backlog.segments[sender.sid], sender.mps * validity
    facts = {"queued_segments": queued, "capacity_segments": capacity}
    source = f"sender {sender.sid}: Mps {sender.mps} x ValidityPeriod {validity} s"
    if queued + segments > capacity:
        error = QueueOverflow(
            Reason("queue.overflow", sender=sender.address, queued=queued, mps=sender.mps, validity=validity)
        )
        return Verdict(QUEUE, REFUSE, error.message, source, facts, error)
    return Verdict(
        QUEUE,
        PASS,
        Reason("queue.room", queued=queued, mps=sender.mps, capacity=capacity, validity=validity),
        source,
        facts,
    )


def _service(session: Session, request: SendRequest, context: SubmitContext) -> Service | None:
    if request.service_sid is None:
        return None
    service = context.directory.service(session, request.service_sid)
    if service is None or service.account_sid != request.account_sid:
        raise ServiceNotFound(f"The Messaging Service {request.service_sid} does not exist.")
    return service


def _pick_sender(
    session: Session,
    request: SendRequest,
    service: Service | None,
    recipient: Address,
    context: SubmitContext,
    prefetched: Prefetched | None,
) -> tuple[Sender | None, bool, str | None, Verdict]:
    """The sender, whether the sticky mapping must be (re)written, the sender it maps to now, and
    routing's verdict (refusing with 21606 or 21703 when there is no sender)."""
    if request.sender is not None:
        sender = context.directory.sender(session, request.account_sid, request.sender)
        if sender is None or (service is not None and sender.service_sid != service.sid):
            where = Reason("scope.service", sid=service.sid) if service else Reason("where.account")
            error = FromNotOwned(Reason("route.not_owned", sender=request.sender, where=where))
            return None, False, None, Verdict(ROUTE, REFUSE, error.message, "request: From", {}, error)
        return (
            sender,
            False,
            None,
            _route_verdict(sender, "from", Reason("route.from", sender=sender.address), "request: From"),
        )
    assert service is not None  # the API requires From or MessagingServiceSid
    pool = context.directory.pool(session, service.sid)
    mapping: StickyRow | None = None
    if service.sticky_sender:
        key = (service.sid, recipient.address)
        if prefetched is not None and key in prefetched.sticky:
            mapping = prefetched.sticky[key]
        else:
            found = sender_rows.sticky(session.connection(), service.sid, recipient.address)
            mapping = StickyRow(found.sender_sid, found.pinned) if found is not None else None
        if mapping is not None and mapping.pinned and mapping.sender_sid in pool:
            sender = pool[mapping.sender_sid]  # staff chose it: routing never moves it
            return (
                sender,
                False,
                None,
                _route_verdict(
                    sender, "pinned", _PINNED, f"service {service.sid}: StickySenders/{recipient.address} (pinned)"
                ),
            )
    load = context.sticky.of(session, service.sid) if service.sticky_sender else context.backlog.segments
    alpha_allowed = context.alpha_allowed(recipient.country) and (
        context.policy is None
        or all(
            alpha_usable(context.policy, recipient.country, registered_countries(s.registered_countries))
            for s in pool.values()
            if s.kind == routing.SenderKind.ALPHA
        )
    )
    try:
        route = routing.choose_sender(
            [candidate(s.sid, s.address, s.kind, s.country) for s in pool.values()],
            routing.Recipient(recipient.address, recipient.country, recipient.area_code),
            sticky=mapping.sender_sid if mapping else None,
            sticky_sender=service.sticky_sender,
            area_code_geomatch=service.area_code_geomatch,
            alpha_allowed=alpha_allowed,
            load=load,
            avoid=[s.sid for s in pool.values() if s.provider in context.unhealthy] if context.unhealthy else (),
        )
    except routing.Unroutable as exc:
        unroutable = NoSenderAvailable(exc.reason)
        return (
            None,
            False,
            None,
            Verdict(
                ROUTE,
                REFUSE,
                unroutable.message,
                f"service {service.sid}: a pool of {len(pool)} senders",
                {},
                unroutable,
            ),
        )
    sender = pool[route.sender.sid]
    reason = routing.WHY[route.rule]
    if (
        not alpha_allowed
        and context.policy is not None
        and any(s.kind == routing.SenderKind.ALPHA for s in pool.values())
    ):
        reason = Reason(
            "route.no_alpha",
            rule=reason,
            country=recipient.country,
            source=context.policy.source_of(recipient.country, "alpha_sender"),
        )
    return (
        sender,
        route.new_sticky,
        mapping.sender_sid if mapping else None,
        _route_verdict(sender, route.rule.value, reason, _rule_source(route.rule, service, recipient, context)),
    )


def _route_verdict(sender: Sender, rule: str, reason: str, source: str) -> Verdict:
    return Verdict(
        ROUTE,
        PASS,
        reason,
        source,
        {
            "sender": sender.address,
            "sender_sid": sender.sid,
            "kind": sender.kind,
            "rule": rule,
            "provider": sender.provider,
        },
    )


def _rule_source(rule: routing.Rule, service: Service, recipient: Address, context: SubmitContext) -> str:
    """The setting behind a routing rule: the service's own for Sticky Sender and Area Code Geomatch,
    the policy's `alpha_sender` line for alpha, Twilio's selection order for the rest."""
    if rule is routing.Rule.STICKY:
        return f"service {service.sid}: StickySender"
    if rule in (routing.Rule.AREA_CODE, routing.Rule.OVERLAY):
        return f"service {service.sid}: AreaCodeGeomatch"
    if rule is routing.Rule.ALPHA and context.policy is not None:
        return context.policy.source_of(recipient.country, "alpha_sender")
    return "Twilio's sender selection order (gateway/routing/selection.py)"


def _remember(
    session: Session,
    service_sid: str,
    recipient: str,
    sender_sid: str,
    previous: str | None,
    context: SubmitContext,
    now: datetime,
) -> dict[str, Any]:
    """Count the recipient against its new sender (and no longer its previous one); the mapping's row
    (`store.senders.remember_stickies` adds or moves it)."""
    counts = context.sticky.of(session, service_sid)
    if previous is not None:
        counts[previous] -= 1
    counts[sender_sid] += 1
    return {
        "service_sid": service_sid,
        "recipient": recipient,
        "sender_sid": sender_sid,
        "pinned": False,
        "date_updated": now,
    }


@lru_cache(maxsize=4096)
def candidate(sender_sid: str, address: str, kind: str, country: str | None) -> routing.Candidate:
    area = routing.area_code(address.removeprefix("whatsapp:")) if country in ("US", "CA") else None
    return routing.Candidate(sender_sid, address, routing.SenderKind(kind), country, area)
