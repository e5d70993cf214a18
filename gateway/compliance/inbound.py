"""An inbound message: what it means (pure `decide`), then its effects in one transaction.

The edge verifies and parses the webhook; `receive` runs in one writer job:
the idempotency receipt, the inbound message row, the consent changes with
their audit events (and the cancellations they cause), the confirmation
through the dispatch core, and the app's forward in the outbox.  The provider
is answered only after that commit, so an answered STOP is in effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from gateway.compliance.gates import WHATSAPP, Address, parse_recipient
from gateway.compliance.optouts import ACCOUNT_WIDE, CHANNELS, REPLY_DIRECTION, Consent, record_consent, scope_of
from gateway.dispatch.outbox import insert_message
from gateway.dispatch.submit import SendRequest, SubmitContext, enqueue_send
from gateway.errors import Forbidden, GatewayError, NotFound
from gateway.forwarding.outbox import enqueue
from gateway.ids import new_sid
from gateway.locales import Catalogs
from gateway.policy.evaluate import country_of
from gateway.policy.matcher import CountryTable, Match
from gateway.policy.model import Kind, Policy
from gateway.providers.base import InboundMessage, Status
from gateway.store.db import per_dialect
from gateway.store.tables import Confirmation, InboundReceipt, OptOut, Sender, Service

log = logging.getLogger("gateway.inbound")

CONFIRMATION_WINDOW = timedelta(minutes=5)

# Statements built once (every inbound message runs them).
_RECEIPT = select(InboundReceipt.message_sid).where(InboundReceipt.provider == bindparam("provider"),
                                                    InboundReceipt.provider_sid == bindparam("provider_sid"))
_INSERT_RECEIPT = insert(InboundReceipt.__table__)  # type: ignore[attr-defined]
_OPTED_OUT = select(OptOut.service_sid, OptOut.channel).where(
    OptOut.account_sid == bindparam("account"), OptOut.number == bindparam("number"),
    OptOut.opted_out.is_(True))  # type: ignore[attr-defined]
_LAST_CONFIRMED = select(Confirmation.at).where(
    Confirmation.account_sid == bindparam("account"), Confirmation.number == bindparam("number"),
    Confirmation.kind == bindparam("kind"))
_C = Confirmation.__table__  # type: ignore[attr-defined]


def _confirmation_claim(insert: Any) -> Any:
    """Take the number's confirmation slot of a kind: inserted, or moved to now if the last one is
    older than the window (`b_due`).  A returned row says this message confirms (RETURNING, as
    psycopg reports no rowcount for an upsert): on
    PostgreSQL a concurrent claim to the same key is waited for and then seen, so two processes
    receiving two STOPs at once send one confirmation."""
    statement = insert(_C)
    return statement.on_conflict_do_update(index_elements=[_C.c.account_sid, _C.c.number, _C.c.kind],
                                           set_={"at": statement.excluded.at},
                                           where=_C.c.at <= bindparam("b_due")).returning(_C.c.at)


_CLAIM_CONFIRMATION = per_dialect(_confirmation_claim)
_RESTORE_CONFIRMATION = update(_C).where(_C.c.account_sid == bindparam("b_account"),
                                         _C.c.number == bindparam("b_number"),
                                         _C.c.kind == bindparam("b_kind")).values(at=bindparam("b_at"))
#: "Never confirmed", for a claim given back when its reply could not be queued.
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ConsentChange:
    scope: str
    channel: str
    opted_out: bool


@dataclass(frozen=True)
class Decision:
    """What an inbound message does: consent changes, whether it is confirmed, how the app hears of it."""

    opt_out_type: Kind | None
    changes: tuple[ConsentChange, ...] = ()
    confirm: bool = False


def decide(match: Match | None, *, scope: str, channel: str, account_scope: bool, linked: bool,
           opted_out: frozenset[tuple[str, str]], last_confirmed: datetime | None, now: datetime,
           window: timedelta = CONFIRMATION_WINDOW) -> Decision:
    """The rules, with no I/O.

    STOP opts out of `scope` (or the whole account for STOPALL or an account-scoped policy), on
    this channel or, when the policy links channels, on all.  START opts back in where the number
    is opted out (`opted_out` holds its (scope, channel) pairs): this scope and the account-wide
    block (else the START would seem to do nothing).  Only changes are changes: a STOP where the
    number is already opted out (a repeat, or a copy sent twice) changes nothing, so it adds no
    consent event and cancels nothing twice.  HELP changes nothing.  Each kind is confirmed at
    most once per `window` per number, so reply loops and repeated STOPs send nothing more.
    """
    if match is None:
        return Decision(None)
    channels = CHANNELS if linked else (channel,)
    wanted: list[ConsentChange] = []
    if match.kind is Kind.STOP:
        target = ACCOUNT_WIDE if match.account_wide or account_scope else scope
        wanted = [ConsentChange(target, c, True) for c in channels]
    elif match.kind is Kind.START:
        wanted = [ConsentChange(t, c, False) for t in (scope, ACCOUNT_WIDE) for c in channels]
    changes = tuple(c for c in wanted if ((c.scope, c.channel) in opted_out) != c.opted_out)
    fresh = last_confirmed is None or now - last_confirmed >= window
    return Decision(match.kind, changes, confirm=fresh and match.reply is not None)


@dataclass
class Received:
    message_sid: str
    duplicate: bool
    reply_sid: str | None = None
    opt_out_type: str | None = None
    canceled: list[str] = field(default_factory=list)


def receive(session: Session, provider: str, inbound: InboundMessage, *, policy: Policy,
            table_for: Callable[[str | None], CountryTable],
            catalogs: Catalogs, context: SubmitContext, now: datetime,
            window: timedelta = CONFIRMATION_WINDOW) -> Received:
    """Record one inbound message and all it causes; a retried webhook changes nothing."""
    connection = session.connection()
    seen = connection.execute(_RECEIPT, {"provider": provider, "provider_sid": inbound.provider_sid}).scalar()
    if seen is not None:
        return Received(seen, duplicate=True)
    sender = _receiving(session, provider, inbound.to, context)
    service = context.directory.service(session, sender.service_sid) if sender.service_sid else None
    try:
        person: Address | None = parse_recipient(
            inbound.sender if inbound.sender.startswith(("+", WHATSAPP)) else "+" + inbound.sender)
    except GatewayError:  # a short code or alphanumeric From: recorded and forwarded, no keywords
        person = None
    match: Match | None = None
    decision, table, last = Decision(None), None, None
    if person is not None:
        country = country_of(person.number)
        table = table_for(country)
        match = table.match(inbound.body)
        states = connection.execute(_OPTED_OUT, {"account": sender.account_sid, "number": person.number}).all()
        last = connection.execute(_LAST_CONFIRMED, {"account": sender.account_sid, "number": person.number,
                                                    "kind": match.kind.value}).scalar() if match else None
        decision = decide(match, scope=scope_of(service.sid if service else None, sender.sid), channel=person.channel,
                          account_scope=policy.scope_for(country) == "account", linked=policy.channels_linked(country),
                          opted_out=frozenset((row.service_sid, row.channel) for row in states), last_confirmed=last,
                          now=now, window=window)

    message_sid = new_sid("SM")
    connection.execute(_INSERT_RECEIPT, {"provider": provider, "provider_sid": inbound.provider_sid,
                                         "message_sid": message_sid, "date_created": now})
    insert_message(session, sid=message_sid, account_sid=sender.account_sid,
                   service_sid=service.sid if service else None, sender_sid=sender.sid, direction="inbound",
                   sender=person.address if person else inbound.sender, to=sender.address, body=inbound.body,
                   media="\n".join(inbound.media_urls), status=Status.RECEIVED.value, priority=0,
                   opt_out_type=decision.opt_out_type.value if decision.opt_out_type else None, provider=provider,
                   provider_sid=inbound.provider_sid, expires_at=now, date_created=now)
    result = Received(message_sid, duplicate=False,
                      opt_out_type=decision.opt_out_type.value if decision.opt_out_type else None)
    for change in decision.changes:
        assert person is not None
        result.canceled += record_consent(session, Consent(
            sender.account_sid, change.scope, person.number, change.channel, change.opted_out, "keyword",
            keyword=match.keyword if match else None, language=match.language if match else None,
            inbound_message_sid=message_sid, policy_revision=policy.revision,
            match=match.found.value if match else None, exception=match.exception if match else None),
            now=now, backlog=context.backlog) or []
    if decision.confirm and match is not None and person is not None and table is not None:
        result.reply_sid = _confirm(session, match, table, catalogs, sender, service, person.address, context, now,
                                    window=window, last=last)
    _forward(session, sender, service, inbound, message_sid, decision, person.number if person else inbound.sender,
             now, match)
    return result


def _receiving(session: Session, provider: str, address: str, context: SubmitContext) -> Sender:
    """The sender written to, registered with the provider that posted: a webhook of one provider
    never acts for another provider's number (its secret proves nothing about that number)."""
    registered = context.directory.receiving(session, address)
    sender = registered.get(provider)
    if sender is not None:
        return sender
    if registered:
        log.warning("inbound webhook from provider %s refused: %s is registered with provider %s", provider, address,
                    ", ".join(sorted(registered)))
        raise Forbidden(f"{address} is not registered with provider {provider!r}; its webhooks are refused.")
    raise NotFound(f"{address} is not a sender registered with this gateway.")


def _confirm(session: Session, match: Match, table: CountryTable, catalogs: Catalogs, sender: Sender,
             service: Service | None, to: str, context: SubmitContext, now: datetime, *, window: timedelta,
             last: datetime | None) -> str | None:
    """Send the matched kind's reply from the number written to, ahead of bulk traffic, if this
    message wins the number's confirmation slot for the window."""
    assert match.reply is not None
    connection = session.connection()
    key = {"account_sid": sender.account_sid, "number": to.removeprefix(WHATSAPP), "kind": match.kind.value}
    claimed = connection.execute(_CLAIM_CONFIRMATION[connection.dialect.name],
                                 {**key, "at": now, "b_due": now - window}).first()
    if claimed is None:  # another process confirmed this number a moment ago
        return None
    variables = {"brand": (service.brand or service.friendly_name) if service else sender.address,
                 "help_contact": (service.help_contact if service else None) or sender.address}
    body = catalogs.render(match.reply, match.language, variables | table.reply_words(match.language))
    request = SendRequest(account_sid=sender.account_sid, to=to, body=body, sender=sender.address,
                          service_sid=service.sid if service else None, priority=0, reply_to_inbound=True,
                          allow_opted_out=match.kind in (Kind.STOP, Kind.HELP), direction=REPLY_DIRECTION)
    try:
        reply = enqueue_send(session, request, context, now)  # refuses before writing: no savepoint needed
    except GatewayError as exc:  # the consent change stands; the reply could not be queued
        log.error("confirmation to %s not queued: %s (%s)", sender.address, exc.message, exc.code)
        connection.execute(_RESTORE_CONFIRMATION, {"b_account": key["account_sid"], "b_number": key["number"],
                                                   "b_kind": key["kind"], "b_at": last or _NEVER})
        return None
    return reply.sid


def _forward(session: Session, sender: Sender, service: Service | None, inbound: InboundMessage,
             message_sid: str, decision: Decision, number: str, now: datetime, match: Match | None = None) -> None:
    """Queue the app's webhook: the number's own when the service says so (or has none), else the service's."""
    if service is None or (service.use_inbound_webhook_on_number and sender.sms_url):
        url, method, fallback, fallback_method, form = sender.sms_url, "POST", None, "POST", "twilio"
    else:
        url, method = service.inbound_request_url, service.inbound_method
        fallback, fallback_method, form = service.fallback_url, service.fallback_method, service.inbound_format
    if not url:
        return
    ours = {"MessageSid": message_sid, "SmsSid": message_sid, "SmsMessageSid": message_sid,
            "AccountSid": sender.account_sid}
    params = [(k, ours.get(k, v)) for k, v in inbound.raw if k != "MessagingServiceSid"]
    if service is not None:
        params.append(("MessagingServiceSid", service.sid))
    if decision.opt_out_type is not None:
        params.append(("OptOutType", decision.opt_out_type.value))
        if match is not None:  # how sure: exact | phrase | embedded (the ambiguous one)
            params.append(("OptOutMatch", match.found.value))
    enqueue(session, kind="inbound_forward", account_sid=sender.account_sid, ordering_key=number, url=url,
            params=params, now=now, method=method, fallback_url=fallback, fallback_method=fallback_method,
            format=form)
