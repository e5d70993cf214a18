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

from sqlalchemy import insert, select
from sqlmodel import Session

from gateway.compliance.gates import WHATSAPP, parse_recipient
from gateway.compliance.optouts import ACCOUNT_WIDE, CHANNELS, Consent, record_consent, scope_of
from gateway.dispatch.submit import SendRequest, SubmitContext, enqueue_send
from gateway.errors import GatewayError, NotFound
from gateway.forwarding.outbox import enqueue
from gateway.ids import new_sid
from gateway.locales import Catalogs
from gateway.policy.evaluate import country_of
from gateway.policy.matcher import CountryTable, Match
from gateway.policy.model import Kind, Policy
from gateway.providers.base import InboundMessage, Status
from gateway.store.tables import Confirmation, InboundReceipt, Message, OptOut, Sender, Service

log = logging.getLogger("gateway.inbound")

CONFIRMATION_WINDOW = timedelta(minutes=5)


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
    seen = session.get(InboundReceipt, (provider, inbound.provider_sid))
    if seen is not None:
        return Received(seen.message_sid, duplicate=True)
    sender = session.execute(select(Sender).where(Sender.address == inbound.to)).scalars().first()
    if sender is None:
        raise NotFound(f"{inbound.to} is not a sender registered with this gateway.")
    service = session.get(Service, sender.service_sid) if sender.service_sid else None
    person = parse_recipient(inbound.sender if inbound.sender.startswith(("+", WHATSAPP)) else "+" + inbound.sender)
    country = country_of(person.number)
    table = table_for(country)
    match = table.match(inbound.body)
    scope = scope_of(service.sid if service else None, sender.sid)
    states = session.execute(select(OptOut.service_sid).where(
        OptOut.account_sid == sender.account_sid, OptOut.number == person.number,
        OptOut.channel == person.channel, OptOut.opted_out.is_(True))).scalars().all()  # type: ignore[attr-defined]
    last = session.get(Confirmation, (sender.account_sid, person.number, match.kind.value)) if match else None
    decision = decide(match, scope=scope, channel=person.channel, account_scope=policy.scope_for(country) == "account",
                      linked=policy.channels_linked(country), opted_out_scopes=frozenset(states),
                      last_confirmed=last.at if last else None, now=now, window=window)

    message_sid = new_sid("SM")
    session.add(InboundReceipt(provider=provider, provider_sid=inbound.provider_sid, message_sid=message_sid,
                               date_created=now))
    session.connection().execute(insert(Message.__table__), {  # type: ignore[attr-defined]
        "sid": message_sid, "account_sid": sender.account_sid, "service_sid": service.sid if service else None,
        "sender_sid": sender.sid, "direction": "inbound", "sender": person.address, "to": sender.address,
        "body": inbound.body, "media": "\n".join(inbound.media_urls), "status": Status.RECEIVED.value,
        "priority": 0, "num_segments": 1, "encoding": "GSM-7", "error_code": None, "error_message": None,
        "status_callback": None, "opt_out_type": decision.opt_out_type.value if decision.opt_out_type else None,
        "provider": provider, "provider_sid": inbound.provider_sid, "attempts": 0, "next_attempt_at": None,
        "expires_at": now, "date_created": now, "date_updated": now, "date_sent": None})
    result = Received(message_sid, duplicate=False,
                      opt_out_type=decision.opt_out_type.value if decision.opt_out_type else None)
    for change in decision.changes:
        result.canceled += record_consent(session, Consent(
            sender.account_sid, change.scope, person.number, change.channel, change.opted_out, "keyword",
            keyword=match.keyword if match else None, language=match.language if match else None,
            inbound_message_sid=message_sid, policy_revision=policy.revision), now=now, backlog=context.backlog)
    if decision.confirm and match is not None:
        result.reply_sid = _confirm(session, match, table, catalogs, sender, service, person.address, context, now)
    _forward(session, sender, service, inbound, message_sid, decision, person.number, now)
    return result


def _confirm(session: Session, match: Match, table: CountryTable, catalogs: Catalogs, sender: Sender,
             service: Service | None, to: str, context: SubmitContext, now: datetime) -> str | None:
    """Send the matched kind's reply from the number written to, ahead of bulk traffic."""
    assert match.reply is not None
    variables = {"brand": (service.brand or service.friendly_name) if service else sender.address,
                 "help_contact": (service.help_contact if service else None) or sender.address}
    body = catalogs.render(match.reply, match.language, variables | table.reply_words(match.language))
    request = SendRequest(account_sid=sender.account_sid, to=to, body=body, sender=sender.address,
                          service_sid=service.sid if service else None, priority=0, reply_to_inbound=True,
                          allow_opted_out=match.kind in (Kind.STOP, Kind.HELP), direction="outbound-reply")
    try:
        with session.begin_nested():
            reply = enqueue_send(session, request, context, now)
    except GatewayError as exc:  # the consent change stands; the reply could not be queued
        log.error("confirmation to %s not queued: %s (%s)", sender.address, exc.message, exc.code)
        return None
    key = (sender.account_sid, to.removeprefix(WHATSAPP), match.kind.value)
    mark = session.get(Confirmation, key) or Confirmation(account_sid=key[0], number=key[1], kind=key[2], at=now)
    mark.at = now
    session.add(mark)
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
