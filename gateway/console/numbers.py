"""The numbers page: find a number however it was typed, show its consent, and change it with a reason.

A typed number is read with phonenumbers: with `+` or `00` it needs no country; written the
local way (`(201) 555-0123`, `06 12 34 56 78`) it is read in the country chosen beside the box,
or else tried in the countries of the browser's languages, then those of the account's senders, and kept
where it is a valid number.  One reading opens the number; several are offered to choose from.

The state and history are read as the API reads them (`store.optouts`, which `api.optouts.number_record`
uses) and shaped by the API's own functions.

Under each opt-out the page lists the messages to the number from that moment (to the second)
until it opted back in, in that scope and channel: the confirmation is expected, a canceled
message was stopped by the opt-out, anything else went out to someone who had said STOP.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from sqlmodel import Session
from starlette.responses import Response

from gateway.api.common import base_url
from gateway.api.optouts import event_json, opt_out_json
from gateway.compliance.gates import channel_of
from gateway.compliance.optouts import ACCOUNT_WIDE, CHANNELS, Consent
from gateway.console.i18n import parse_accept_language
from gateway.console.web import Page, read_form, see_other, url
from gateway.dates import iso8601, utcnow
from gateway.errors import BadRequest
from gateway.lifecycle import REPLY_DIRECTION
from gateway.orchestration.consent import record_consent
from gateway.store.messages import message_bodies, messages_to
from gateway.store.optouts import number_events, number_states
from gateway.store.senders import Scope, scopes, sender_countries
from gateway.transfer import ACCOUNT_LABEL

MAX_REASON = 1000
SOURCE = "console"
FALLBACK_REGION = "US"


def read_number(text: str, regions: Iterable[str]) -> list[str]:
    """The E.164 numbers `text` can be, in the order of `regions` (a number with + needs none)."""
    raw = text.strip().removeprefix("whatsapp:").strip()
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if not raw:
        return []
    found: list[str] = []
    for region in [None] if raw.startswith("+") else list(dict.fromkeys(regions)):
        try:
            parsed = phonenumbers.parse(raw, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed) or (region is None and phonenumbers.is_possible_number(parsed)):
            number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            if number not in found:
                found.append(number)
    return found


def guess_regions(chosen: str | None, accept_language: str | None, sender_countries: Sequence[str]) -> list[str]:
    """Where a number typed without a country code is most likely from, most likely first; a
    country staff chose is the only one."""
    if chosen:
        return [chosen.upper()] if chosen.upper() in phonenumbers.SUPPORTED_REGIONS else []
    regions = []
    for tag in parse_accept_language(accept_language):
        _, _, region = tag.partition("-")
        if len(region) == 2:
            regions.append(region.upper())
    regions += [*sender_countries, FALLBACK_REGION]
    return [r for r in dict.fromkeys(regions) if r in phonenumbers.SUPPORTED_REGIONS]


@dataclass
class Window:
    """One opt-out and the messages to the number from then until it opted back in (same scope, channel)."""

    event: dict[str, Any]
    until: str | None
    messages: list[tuple[Any, str]] = field(default_factory=list)  # (row, reply | canceled | sent)

    @property
    def violations(self) -> int:
        return sum(1 for _, verdict in self.messages if verdict == "sent")


def windows(events: Sequence[dict[str, Any]], messages: Sequence[Any]) -> list[Window]:
    """Each opt-out event (newest first, as `number_record` lists them) with what followed it."""
    chronological = list(reversed(events))
    found = []
    for position, event in enumerate(chronological):
        if event["kind"] != "opt_out":
            continue
        until = next(
            (
                later["date"]
                for later in chronological[position + 1 :]
                if later["kind"] == "opt_in"
                and later["scope"] == event["scope"]
                and later["channel"] == event["channel"]
            ),
            None,
        )
        window = Window(event, until)
        for row in reversed(messages):  # oldest first
            moment = iso8601(row.date_sent or row.date_created)
            if (
                channel_of(row.to) == event["channel"]
                and _in_scope(row, event["scope"])
                and moment >= event["date"]
                and (until is None or moment < until)
            ):
                window.messages.append((row, _verdict(row)))
        found.append(window)
    return list(reversed(found))


def _in_scope(row: Any, scope: str) -> bool:
    if scope in (ACCOUNT_WIDE, ACCOUNT_LABEL):
        return True
    return bool(row.service_sid == scope or (row.service_sid is None and row.sender_sid == scope))


def _verdict(row: Any) -> str:
    if row.direction == REPLY_DIRECTION:
        return "reply"
    if row.status == "canceled" and row.date_sent is None:
        return "canceled"
    return "sent"


def _number(
    session: Session, account_sid: str, number: str, base: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any], dict[str, str], list[Scope]]:
    """The number's states and events as the API shows them, its messages, the words it opted out
    with, and the scopes an opt-out can have."""
    connection = session.connection()
    events = number_events(connection, account_sid, number)
    bodies = message_bodies(connection, account_sid, (e.inbound_message_sid for e in events))
    return (
        [opt_out_json(s, base) for s in number_states(connection, account_sid, number)],
        [event_json(e) for e in events],
        messages_to(connection, account_sid, number),
        bodies,
        scopes(session, account_sid),
    )


async def search(page: Page) -> Response:
    query = page.request.query_params.get("q", "").strip()
    region = page.request.query_params.get("region") or None
    if not query:
        return page.render("numbers.html", q="", region=region, candidates=[], regions=_region_choices())
    countries = await page.read(sender_countries, page.account_sid)
    candidates = read_number(query, guess_regions(region, page.request.headers.get("accept-language"), countries))
    if len(candidates) == 1:
        return see_other(url(f"/console/numbers/{candidates[0]}", lang=page.request.query_params.get("lang")))
    return page.render(
        "numbers.html",
        q=query,
        region=region,
        candidates=candidates,
        regions=_region_choices(),
        status=200 if candidates else 404,
    )


def _region_choices() -> list[str]:
    return sorted(phonenumbers.SUPPORTED_REGIONS)


async def show(page: Page) -> Response:
    number = _path_number(page)
    base = base_url(page.request)
    states, events, messages, bodies, choices = await page.read(_number, page.account_sid, number, base)
    labels = {s.sid: s.label for s in choices} | {ACCOUNT_LABEL: page.gettext("whole account")}
    return page.render(
        "number.html",
        e164=number,
        states=states,
        events=events,
        bodies=bodies,
        labels=labels,
        windows=windows(events, messages),
        scopes=choices,
        channels=CHANNELS,
        done=page.request.query_params.get("done"),
        national=_national(number),
    )


async def change(page: Page) -> Response:
    """Opt the number out or back in, with the reason staff gave: audited, exactly as the API does it."""
    number = _path_number(page)
    form = await read_form(page.request)
    opted_out = {"opt_out": True, "opt_in": False}.get(form.get("action", ""))
    channel = form.get("channel", "sms")
    reason = form.get("reason", "").strip()
    scope = form.get("scope") or ACCOUNT_WIDE
    if opted_out is None or channel not in CHANNELS:
        raise BadRequest(page.gettext("Choose opt out or opt in, and a channel."))
    if not reason or len(reason) > MAX_REASON:
        raise BadRequest(page.gettext("Say why you change this number's consent (at most 1,000 characters)."))
    unknown_scope = page.gettext("That scope is not a service or sender of this account.")
    backlog = page.request.app.state.core.backlog
    consent = Consent(page.account_sid, scope, number, channel, opted_out=opted_out, source=SOURCE, reason=reason)

    def job(session: Session) -> list[str] | None:
        """The scope is checked in the writer's transaction (no read on the event loop), before writing."""
        known = {s.sid for s in scopes(session, page.account_sid)} | {ACCOUNT_WIDE}
        if scope not in known:
            raise BadRequest(unknown_scope)
        return record_consent(session, consent, now=utcnow(), backlog=backlog)

    changed = await page.request.app.state.writer.run(job, clean_on_error=True)
    if changed and page.request.app.state.forwarder is not None:
        page.request.app.state.forwarder.notify()  # the canceled messages' status callbacks
    done = "unchanged" if changed is None else ("opted_out" if opted_out else "opted_in")
    return see_other(url(f"/console/numbers/{number}", done=done))


def _path_number(page: Page) -> str:
    raw = page.request.path_params["number"]
    found = read_number(raw, [])
    if not raw.startswith("+") or len(found) != 1:
        raise BadRequest(page.gettext("%(number)s is not a number in international format.", number=raw))
    return found[0]


def _national(number: str) -> str:
    parsed = phonenumbers.parse(number, None)
    region = phonenumbers.region_code_for_number(parsed) or ""
    return f"{phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)} ({region})"
