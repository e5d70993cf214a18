"""Inbound messages' effects, a batch at a time (what each means is `compliance.inbound.decide`).

The edge verifies and parses the webhook and hands an `Arrival` to the writer, which gathers
the arrivals waiting into one `receive_batch` per transaction: the idempotency receipts, the
inbound message rows, the consent changes with their audit events (and the cancellations they
cause), the confirmations through the dispatch core, and the app's forwards in the outbox,
each table written once for the batch (`store.consent`).  The provider is answered only after
that commit, so an answered STOP is in effect.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from gateway.channels import WHATSAPP
from gateway.compliance.gates import Address, parse_recipient
from gateway.compliance.inbound import CONFIRMATION_WINDOW, Decision, decide
from gateway.compliance.optouts import Consent, event_row, scope_of, state_row
from gateway.dispatch.submit import SendRequest, SubmitContext, enqueue_send
from gateway.errors import Forbidden, GatewayError, NotFound
from gateway.ids import new_sid
from gateway.lifecycle import REPLY_DIRECTION, Status
from gateway.locales import Catalogs
from gateway.media import pack
from gateway.observability import metrics
from gateway.observability.logs import REQUEST_ID, for_request
from gateway.orchestration.consent import cancel_pending
from gateway.outbox.backlog import Backlog
from gateway.outbox.deliveries import delivery_row
from gateway.outbox.messages import message_row
from gateway.policy.matcher import CountryTable, Match
from gateway.policy.model import Policy
from gateway.providers.base import InboundMessage
from gateway.store import consent as consent_rows
from gateway.store import deliveries as delivery_rows
from gateway.store import queue
from gateway.store.tables import Sender, Service

log = logging.getLogger("gateway.inbound")


@dataclass
class Received:
    message_sid: str
    duplicate: bool
    reply_sid: str | None = None
    opt_out_type: str | None = None
    language: str | None = None  # the matched keyword's


@dataclass(frozen=True)
class Arrival:
    """One verified inbound message waiting for its batch, with the policy revision it arrived under."""

    provider: str
    message: InboundMessage
    policy: Policy
    table_for: Callable[[str | None], CountryTable]
    catalogs: Catalogs
    context: SubmitContext
    now: datetime
    #: The webhook's request: the message, its confirmation and its forward carry it on.
    request_id: str | None = field(default_factory=REQUEST_ID.get)


@dataclass
class _Rows:
    """What a batch writes, table by table, for one `executemany` each."""

    receipts: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    states: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)  # the last per key
    confirmations: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    opt_outs: list[tuple[Consent, datetime]] = field(default_factory=list)  # cancel the app's messages for these


def receive_batch(
    session: Session, arrivals: Sequence[Arrival], window: timedelta = CONFIRMATION_WINDOW
) -> list[Received | GatewayError]:
    """Record a batch of inbound messages and all they cause, in arrival order, with a few
    statements for the whole batch: read receipts, consent states and confirmation slots once;
    decide each message in turn against what the earlier ones changed (a STOP then a START from
    one number ends opted in, two copies of one webhook are one message); write each table once.

    An arrival that is refused (unknown number, another provider's number) gets its
    `GatewayError` and writes nothing; a retried webhook changes nothing."""
    connection = session.connection()
    results: list[Received | GatewayError | None] = [None] * len(arrivals)
    seen = consent_rows.seen_receipts(connection, {(a.provider, a.message.provider_sid) for a in arrivals})
    accepted: list[tuple[int, Arrival, Sender, Address | None]] = []
    for index, arrival in enumerate(arrivals):
        key = (arrival.provider, arrival.message.provider_sid)
        if key in seen:
            results[index] = Received(seen[key], duplicate=True)
            continue
        try:
            with for_request(arrival.request_id):  # the batch holds many requests' messages
                sender = _receiving(session, arrival.provider, arrival.message.to, arrival.context)
        except GatewayError as exc:
            results[index] = exc
            continue
        seen[key] = new_sid("SM")  # later copies in this batch are retries of this one
        accepted.append((index, arrival, sender, _person(arrival.message.sender)))

    numbers = sorted({person.number for _, _, _, person in accepted if person is not None})
    consent_rows.lock_numbers(connection, numbers)
    states = consent_rows.opted_out_states(connection, numbers)
    confirmed = consent_rows.last_confirmations(connection, numbers)
    rows = _Rows()
    for index, arrival, sender, person in accepted:
        message_sid = seen[(arrival.provider, arrival.message.provider_sid)]
        with for_request(arrival.request_id):
            results[index] = _receive_one(
                session, arrival, sender, person, message_sid, states, confirmed, rows, window
            )
    if accepted:
        _write(session, rows, accepted[0][1].context.backlog)
    return [result for result in results if result is not None]


def _person(sender: str) -> Address | None:
    """The person who wrote, or None for a short code or alphanumeric From (recorded and
    forwarded, no keywords)."""
    try:
        return parse_recipient(sender if sender.startswith(("+", WHATSAPP)) else "+" + sender)
    except GatewayError:
        return None


def _receive_one(
    session: Session,
    arrival: Arrival,
    sender: Sender,
    person: Address | None,
    message_sid: str,
    states: defaultdict[tuple[str, str], set[tuple[str, str]]],
    confirmed: dict[tuple[str, str, str], datetime],
    rows: _Rows,
    window: timedelta,
) -> Received:
    """Decide one message against the batch's state so far, update that state, and add its rows."""
    inbound, now, policy, context = arrival.message, arrival.now, arrival.policy, arrival.context
    service = context.directory.service(session, sender.service_sid) if sender.service_sid else None
    scope = scope_of(service.sid if service else None, sender.sid)
    match: Match | None = None
    decision, table = Decision(None), None
    if person is not None:
        country = person.country  # parse_recipient's, not a second parse of the number (19 µs)
        table = arrival.table_for(country)
        match = table.match(inbound.body)
        opted_out = states[(sender.account_sid, person.number)]
        slot = (sender.account_sid, person.number, match.kind.value) if match else None
        decision = decide(
            match,
            scope=scope,
            channel=person.channel,
            account_scope=policy.scope_for(country) == "account",
            linked=policy.channels_linked(country),
            opted_out=frozenset(opted_out),
            last_confirmed=confirmed.get(slot) if slot else None,
            now=now,
            window=window,
        )
    kind = decision.opt_out_type.value if decision.opt_out_type else None
    rows.receipts.append(
        {
            "provider": arrival.provider,
            "provider_sid": inbound.provider_sid,
            "message_sid": message_sid,
            "date_created": now,
        }
    )
    rows.messages.append(
        message_row(
            sid=message_sid,
            account_sid=sender.account_sid,
            service_sid=service.sid if service else None,
            sender_sid=sender.sid,
            direction="inbound",
            sender=person.address if person else inbound.sender,
            to=sender.address,
            body=inbound.body,
            media=pack(inbound.media_urls, inbound.media_types),
            status=Status.RECEIVED.value,
            priority=0,
            opt_out_type=kind,
            provider=arrival.provider,
            provider_sid=inbound.provider_sid,
            expires_at=now,
            date_created=now,
            request_id=arrival.request_id,
        )
    )
    result = Received(message_sid, duplicate=False, opt_out_type=kind, language=match.language if match else None)
    for change in decision.changes:
        assert person is not None and match is not None
        consent = Consent(
            sender.account_sid,
            change.scope,
            person.number,
            change.channel,
            change.opted_out,
            "keyword",
            keyword=match.keyword,
            language=match.language,
            inbound_message_sid=message_sid,
            policy_revision=policy.revision,
            match=match.found.value,
            exception=match.exception,
        )
        rows.events.append(event_row(consent, now))
        metrics.consent_changed(session, change.scope, change.opted_out, "keyword")
        rows.states[(consent.account_sid, consent.scope, consent.number, consent.channel)] = state_row(consent, now)
        (
            states[(sender.account_sid, person.number)].add
            if change.opted_out
            else states[(sender.account_sid, person.number)].discard
        )((change.scope, change.channel))
        if change.opted_out:
            rows.opt_outs.append((consent, now))
    if decision.confirm and match is not None and person is not None and table is not None:
        result.reply_sid = _confirm(session, arrival, match, table, sender, service, person.address, confirmed, rows)
    _forward(
        rows,
        sender,
        service,
        inbound,
        message_sid,
        decision,
        person.number if person else inbound.sender,
        now,
        match,
        arrival.request_id,
    )
    return result


def _write(session: Session, rows: _Rows, backlog: Backlog) -> None:
    """One statement per table for the whole batch, then the cancellations its opt-outs cause."""
    connection = session.connection()
    consent_rows.write_receipts(connection, rows.receipts)
    queue.insert_messages(connection, rows.messages)
    consent_rows.write_events(connection, rows.events)
    delivery_rows.write(connection, rows.deliveries)
    consent_rows.upsert_states(connection, list(rows.states.values()))
    consent_rows.write_confirmations(connection, list(rows.confirmations.values()))
    if rows.opt_outs:
        cancel_pending(session, rows.opt_outs, backlog=backlog)


def _receiving(session: Session, provider: str, address: str, context: SubmitContext) -> Sender:
    """The sender written to, registered with the provider that posted: a webhook of one provider
    never acts for another provider's number (its secret proves nothing about that number)."""
    registered = context.directory.receiving(session, address)
    sender = registered.get(provider)
    if sender is not None:
        return sender
    if registered:
        log.warning(
            "inbound webhook from provider %s refused: %s is registered with provider %s",
            provider,
            address,
            ", ".join(sorted(registered)),
        )
        raise Forbidden(f"{address} is not registered with provider {provider!r}; its webhooks are refused.")
    raise NotFound(f"{address} is not a sender registered with this gateway.")


def _confirm(
    session: Session,
    arrival: Arrival,
    match: Match,
    table: CountryTable,
    sender: Sender,
    service: Service | None,
    to: str,
    confirmed: dict[tuple[str, str, str], datetime],
    rows: _Rows,
) -> str | None:
    """Queue the matched kind's reply from the number written to, ahead of bulk traffic, and take
    the number's confirmation slot for the window.  The batch's state says the person may get it
    (a START just lifted their opt-out), so the opt-out gate is not asked again."""
    assert match.reply is not None
    number = to.removeprefix(WHATSAPP)
    variables = {
        "brand": (service.brand or service.friendly_name) if service else sender.address,
        "help_contact": (service.help_contact if service else None) or sender.address,
    }
    body = arrival.catalogs.render(match.reply, match.language, variables | table.reply_words(match.language))
    request = SendRequest(
        account_sid=sender.account_sid,
        to=to,
        body=body,
        sender=sender.address,
        service_sid=service.sid if service else None,
        priority=0,
        reply_to_inbound=True,
        allow_opted_out=True,
        direction=REPLY_DIRECTION,
        request_id=arrival.request_id,
    )
    try:
        reply = enqueue_send(session, request, arrival.context, arrival.now, defer=rows.messages)
    except GatewayError as exc:  # the consent change stands; the reply could not be queued
        log.error("confirmation to %s not queued: %s (%s)", sender.address, exc.message, exc.code)
        return None
    slot = (sender.account_sid, number, match.kind.value)
    confirmed[slot] = arrival.now
    rows.confirmations[slot] = {"account_sid": slot[0], "number": slot[1], "kind": slot[2], "at": arrival.now}
    return reply.sid


def _forward(
    rows: _Rows,
    sender: Sender,
    service: Service | None,
    inbound: InboundMessage,
    message_sid: str,
    decision: Decision,
    number: str,
    now: datetime,
    match: Match | None = None,
    request_id: str | None = None,
) -> None:
    """Queue the app's webhook: the number's own when the service says so (or has none), else the service's."""
    if service is None or (service.use_inbound_webhook_on_number and sender.sms_url):
        url, method, fallback, fallback_method, form = sender.sms_url, "POST", None, "POST", "twilio"
    else:
        url, method = service.inbound_request_url, service.inbound_method
        fallback, fallback_method, form = service.fallback_url, service.fallback_method, service.inbound_format
    if not url:
        return
    ours = {
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "SmsMessageSid": message_sid,
        "AccountSid": sender.account_sid,
    }
    params = [(k, ours.get(k, v)) for k, v in inbound.raw if k != "MessagingServiceSid"]
    if service is not None:
        params.append(("MessagingServiceSid", service.sid))
    if decision.opt_out_type is not None:
        params.append(("OptOutType", decision.opt_out_type.value))
        if match is not None:  # how sure: exact | phrase | embedded (the ambiguous one)
            params.append(("OptOutMatch", match.found.value))
    rows.deliveries.append(
        delivery_row(
            kind="inbound_forward",
            account_sid=sender.account_sid,
            ordering_key=number,
            url=url,
            params=params,
            now=now,
            method=method,
            fallback_url=fallback,
            fallback_method=fallback_method,
            format=form,
            request_id=request_id,
        )
    )
