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
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session

from gateway.compliance.gates import WHATSAPP, Address, parse_recipient
from gateway.compliance.optouts import ACCOUNT_WIDE, CHANNELS, Consent, record_consent, scope_of
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
from gateway.store.tables import Confirmation, InboundReceipt, OptOut, Sender, Service

log = logging.getLogger("gateway.inbound")

CONFIRMATION_WINDOW = timedelta(minutes=5)

# Statements built once (every inbound message runs them).
_RECEIPT = select(InboundReceipt.message_sid).where(InboundReceipt.provider == bindparam("provider"),
                                                    InboundReceipt.provider_sid == bindparam("provider_sid"))
_INSERT_RECEIPT = insert(InboundReceipt.__table__)  # type: ignore[attr-defined]
_OPTED_OUT_SCOPES = select(OptOut.service_sid).where(
    OptOut.account_sid == bindparam("account"), OptOut.number == bindparam("number"),
    OptOut.channel == bindparam("channel"), OptOut.opted_out.is_(True))  # type: ignore[attr-defined]
_LAST_CONFIRMED = select(Confirmation.at).where(
    Confirmation.account_sid == bindparam("account"), Confirmation.number == bindparam("number"),
    Confirmation.kind == bindparam("kind"))
_INSERT_CONFIRMATION = insert(Confirmation.__table__)  # type: ignore[attr-defined]
_TOUCH_CONFIRMATION = update(Confirmation.__table__).where(  # type: ignore[attr-defined]
    Confirmation.account_sid == bindparam("account"), Confirmation.number == bindparam("number"),
    Confirmation.kind == bindparam("kind")).values(at=bindparam("b_at"))


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
           opted_out_scopes: frozenset[str], last_confirmed: datetime | None, now: datetime,
           window: timedelta = CONFIRMATION_WINDOW) -> Decision:
    """The rules, with no I/O.

    STOP opts out of `scope` (or the whole account for STOPALL or an account-scoped policy), on
    this channel or, when the policy links channels, on all.  START opts back in where the number
    is opted out: this scope and, if present, the account-wide block (else the START would seem
    to do nothing).  HELP changes nothing.  Each kind is confirmed at most once per `window`
    per number, so reply loops and repeated STOPs send nothing more.
    """
    if match is None:
        return Decision(None)
    channels = CHANNELS if linked else (channel,)
    changes: tuple[ConsentChange, ...] = ()
    if match.kind is Kind.STOP:
        target = ACCOUNT_WIDE if match.account_wide or account_scope else scope
        changes = tuple(ConsentChange(target, c, True) for c in channels)
    elif match.kind is Kind.START:
        targets = [scope] + ([ACCOUNT_WIDE] if ACCOUNT_WIDE in opted_out_scopes else [])
        changes = tuple(ConsentChange(t, c, False) for t in targets for c in channels)
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
        states = connection.execute(_OPTED_OUT_SCOPES, {"account": sender.account_sid, "number": person.number,
                                                        "channel": person.channel}).scalars().all()
        last = connection.execute(_LAST_CONFIRMED, {"account": sender.account_sid, "number": person.number,
                                                    "kind": match.kind.value}).scalar() if match else None
        decision = decide(match, scope=scope_of(service.sid if service else None, sender.sid), channel=person.channel,
                          account_scope=policy.scope_for(country) == "account", linked=policy.channels_linked(country),
                          opted_out_scopes=frozenset(states), last_confirmed=last, now=now, window=window)

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
            inbound_message_sid=message_sid, policy_revision=policy.revision), now=now, backlog=context.backlog)
    if decision.confirm and match is not None and person is not None and table is not None:
        result.reply_sid = _confirm(session, match, table, catalogs, sender, service, person.address, context, now,
                                    confirmed_before=last is not None)
    _forward(session, sender, service, inbound, message_sid, decision, person.number if person else inbound.sender,
             now)
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
             service: Service | None, to: str, context: SubmitContext, now: datetime, *,
             confirmed_before: bool) -> str | None:
    """Send the matched kind's reply from the number written to, ahead of bulk traffic."""
    assert match.reply is not None
    variables = {"brand": (service.brand or service.friendly_name) if service else sender.address,
                 "help_contact": (service.help_contact if service else None) or sender.address}
    body = catalogs.render(match.reply, match.language, variables | table.reply_words(match.language))
    request = SendRequest(account_sid=sender.account_sid, to=to, body=body, sender=sender.address,
                          service_sid=service.sid if service else None, priority=0, reply_to_inbound=True,
                          allow_opted_out=match.kind in (Kind.STOP, Kind.HELP), direction="outbound-reply")
    try:
        reply = enqueue_send(session, request, context, now)  # refuses before writing: no savepoint needed
    except GatewayError as exc:  # the consent change stands; the reply could not be queued
        log.error("confirmation to %s not queued: %s (%s)", sender.address, exc.message, exc.code)
        return None
    key = {"account": sender.account_sid, "number": to.removeprefix(WHATSAPP), "kind": match.kind.value}
    connection = session.connection()
    if not confirmed_before:
        connection.execute(_INSERT_CONFIRMATION, {"account_sid": key["account"], "number": key["number"],
                                                  "kind": key["kind"], "at": now})
    else:
        connection.execute(_TOUCH_CONFIRMATION, {**key, "b_at": now})
    return reply.sid


def _forward(session: Session, sender: Sender, service: Service | None, inbound: InboundMessage,
             message_sid: str, decision: Decision, number: str, now: datetime) -> None:
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
    enqueue(session, kind="inbound_forward", account_sid=sender.account_sid, ordering_key=number, url=url,
            params=params, now=now, method=method, fallback_url=fallback, fallback_method=fallback_method,
            format=form)
