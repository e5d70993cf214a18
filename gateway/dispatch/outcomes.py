"""What a send's outcome does to its message, as writer jobs: sent or refused (`Transitions`, set
by set), refused as MMS where the MMS Converter may send it again (`refused`), back in line for a
retry (`reschedule`), routed again over a long code when the carrier takes no short codes
(`reroute`), and the queued messages whose validity ended (`expire`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from gateway import routing
from gateway.compliance.gates import parse_recipient
from gateway.compliance.mms import converted_verdict
from gateway.compliance.reasons import Reason
from gateway.compliance.verdicts import PASS, Verdict
from gateway.dates import Clock
from gateway.dispatch.holds import opted_out_meanwhile
from gateway.dispatch.submit import candidate, shorten_for, write_links
from gateway.encoding import segment
from gateway.errors import VALIDITY_EXPIRED
from gateway.lifecycle import Status
from gateway.links import LinkDefaults, ShortLink
from gateway.media import MMS_REFUSED, converted_body, urls
from gateway.outbox.backlog import Backlog
from gateway.outbox.messages import Change, cancel_opted_out, set_status, set_statuses
from gateway.store import claims
from gateway.store.senders import service_members
from gateway.store.tables import Service

#: The gate a rerouted message's reasons gain (`reroute`), after the ones its send recorded.
REROUTE = "short_code_reroute"


@dataclass(frozen=True, eq=False)
class Transitions:
    """The writer's batch handler for sends' outcomes (`sent`, or `failed` with the provider's
    code): the outcomes of a pacer round that wait together are written with one set of
    statements (`outbox.messages.set_statuses`).  One per dispatcher, so they group."""

    backlog: Backlog
    clock: Clock

    def __call__(self, session: Session, changes: list[Change]) -> list[bool]:
        return set_statuses(session, changes, now=self.clock.now(), backlog=self.backlog)


def may_convert(code: int, media: str) -> bool:
    """Whether the provider's refusal `code` of a message with `media` may be one the MMS Converter
    answers (`refused`); every other refusal is a plain `failed` outcome, written set by set."""
    return code in MMS_REFUSED and bool(media)


def refused(
    session: Session,
    sid: str,
    code: int,
    text: str,
    backlog: Backlog,
    *,
    now: datetime,
    links: LinkDefaults | None = None,
) -> None:
    """The provider refused `sid` for good (`failed` with its code), unless it refused it as MMS
    (`media.MMS_REFUSED`) and the message's service has the MMS Converter on: then the message goes
    back in line at once as the converter's SMS, its segments counted again, the conversion kept
    in its reasons.  It is converted once: the SMS carries no media to refuse.  When the send asked
    for ShortenUrls, the media links it gains are shortened as `plan_send` shortens a body (`links`,
    the gateway's link defaults), and their short links written in this transaction; the body's
    own links were shortened when it was queued, so only the added ones are."""
    message = claims.message(session, sid)
    service = session.get(Service, message.service_sid) if message.service_sid else None
    if not may_convert(code, message.media) or service is None or not service.mms_converter:
        set_status(
            session,
            sid,
            Status.FAILED,
            now=now,
            source="dispatch",
            backlog=backlog,
            error_code=code,
            error_message=text,
        )
        return
    added, made = converted_body("", urls(message.media)), tuple[ShortLink, ...]()
    if message.shorten_urls and links is not None:
        added, made = shorten_for(added, service, links)
    counted = segment(converted_body(message.body, [added]), smart=False)  # the body is as sent
    if message.sender_sid is not None:
        backlog.add(message.sender_sid, counted.segments - message.num_segments)
    verdict = converted_verdict(
        Reason("media.provider_refused", code=code), f"service {service.sid}: MmsConverter", because="provider"
    )
    if message.reasons is not None:
        gates = [*message.reasons["gates"], verdict.as_json()]
        message.reasons = {
            **message.reasons,
            "gates": gates,
            "encoding": {
                **message.reasons["encoding"],
                "segments": counted.segments,
                "encoding": counted.encoding,
                **_shortened(message.reasons["encoding"], made),
            },
        }
    message.body, message.media, message.num_segments, message.encoding = (
        counted.text,
        "",
        counted.segments,
        counted.encoding,
    )
    message.status, message.next_attempt_at = Status.QUEUED.value, now  # not a lifecycle move: back in line
    session.add(message)
    session.flush()
    if made and links is not None:
        write_links(session, made, links, message, now=now)
    if opted_out_meanwhile(session, message):
        cancel_opted_out(session, sid, now=now, backlog=backlog)


def _shortened(encoding: dict[str, Any], made: tuple[ShortLink, ...]) -> dict[str, int]:
    """The reasons' count of short links after the converter's were added (none added: unchanged)."""
    return {"shortened_links": encoding.get("shortened_links", 0) + len(made)} if made else {}


def reschedule(
    session: Session, sid: str, delay: float, backlog: Backlog, *, now: datetime, attempted: bool = True
) -> None:
    """Try `sid` again in `delay` seconds, unless its validity ends first (30036) or its recipient
    opted out while it was in flight (21610).  `attempted`: a request was made (the backoff counts those)."""
    message = claims.message(session, sid)
    message.attempts += attempted
    message.next_attempt_at = now + timedelta(seconds=delay)
    if message.next_attempt_at >= message.expires_at:
        session.add(message)
        session.flush()
        set_status(
            session,
            sid,
            Status.FAILED,
            now=now,
            source="expiry",
            backlog=backlog,
            error_code=VALIDITY_EXPIRED,
            error_message="Validity period expired before the provider took it.",
        )
        return
    if message.status == Status.SENDING.value:
        message.status = Status.QUEUED.value  # not a lifecycle move: back in line, same idempotency key
        session.add(message)
        session.flush()
        if opted_out_meanwhile(session, message):
            cancel_opted_out(session, sid, now=now, backlog=backlog)
        return
    session.add(message)


def reroute(session: Session, sid: str, code: int, backlog: Backlog, *, now: datetime) -> str | None:
    """Short Code Reroute: the provider refused `sid`, sent from a short code, because the recipient's
    carrier takes no short codes (`code`, the provider's answer).  As Twilio's Messaging Service
    does, the message goes back in line on a phone number of its pool (`routing.choose_long_code`),
    its reasons gaining why; the sender's sid is returned.  None, and nothing written, when the
    message has no Messaging Service or the pool no number that can reach the recipient: the
    caller then fails it with `code`."""
    message = claims.message(session, sid)
    service = session.get(Service, message.service_sid) if message.service_sid else None
    if service is None or message.status != Status.SENDING.value:
        return None
    if message.reasons is not None and message.reasons["route"].get("rule") == "from":
        return None  # the app named the short code (From): no sender selection, so no reroute
    pool = {s.sid: s for s in service_members(session, service.sid)}
    recipient = parse_recipient(message.to)
    try:
        route = routing.choose_long_code(
            [candidate(s.sid, s.address, s.kind, s.country) for s in pool.values()],
            routing.Recipient(recipient.address, recipient.country, recipient.area_code),
            area_code_geomatch=service.area_code_geomatch,
            load=backlog.segments,
        )
    except routing.Unroutable:
        return None
    sender = pool[route.sender.sid]
    if message.reasons is not None:
        verdict = Verdict(
            REROUTE,
            PASS,
            Reason("route.reroute", short_code=message.sender, code=code, rule=routing.WHY[route.rule]),
            f"provider {message.provider}: error {code} for short code {message.sender}",
            {"sender": sender.address, "sender_sid": sender.sid, "kind": sender.kind, "provider": sender.provider},
        )
        message.reasons = {**message.reasons, "gates": [*message.reasons["gates"], verdict.as_json()]}
    if message.sender_sid is not None:
        backlog.remove(message.sender_sid, message.num_segments)
    backlog.add(sender.sid, message.num_segments)
    message.sender_sid, message.sender, message.provider = sender.sid, sender.address, sender.provider
    message.status = Status.QUEUED.value  # not a lifecycle move: back in line, on another sender
    message.date_updated = now
    session.add(message)
    session.flush()
    return sender.sid


def expire(session: Session, backlog: Backlog, *, now: datetime) -> None:
    for sid in claims.expired(session, now):
        set_status(
            session,
            sid,
            Status.FAILED,
            now=now,
            source="expiry",
            backlog=backlog,
            error_code=VALIDITY_EXPIRED,
            error_message="Validity period expired.",
        )
