"""Quiet hours: may a marketing message reach this number now, and if not, when?

Theory.  Laws on marketing texts name hours in the *recipient's* local time (reference 8.3: US
TCPA 08:00-21:00, stricter US states, France Mon-Sat 08:00-22:00 and never on Sundays or public
holidays).  The policy files write them as `SendWindows` per country and per state; a send must
be inside the country's windows *and* its state's, and where the number's time zone is not one
(phonenumbers lists every zone a number may ring in: a toll-free number, a whole country code)
inside them in *every* candidate zone: the strictest reading.  The set of allowed instants is a
union of half-open intervals, so the first allowed instant from now is now or one of the windows'
openings in some zone: `decide` tries those in order, up to `HORIZON` ahead.

Only marketing is restricted: transactional messages, opt-out confirmations and HELP replies
(compliance replies, not solicitations; reference 8.3) always go.  Everything here is pure: the
caller passes the instant (the gateway's clock) and the policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

import holidays
import phonenumbers
from phonenumbers import geocoder
from phonenumbers.timezone import time_zones_for_number

from gateway.compliance.reasons import Reason
from gateway.compliance.verdicts import HOLD, PASS, REFUSE, SKIP
from gateway.compliance.verdicts import Verdict as GateVerdict
from gateway.dates import iso8601
from gateway.errors import OutsideSendWindow
from gateway.policy.model import Outside, Policy, SendWindows
from gateway.policy.windows import parse_window, subdivisions

#: The gate's name in a send's reasons (`compliance.verdicts`).
QUIET_HOURS = "quiet_hours"
_INSIDE = Reason("quiet.inside")
_REPLY = Reason("quiet.reply")
#: How far ahead a hold may be: beyond it the windows never open in every zone (`refuse`).
HORIZON = timedelta(days=14)


class TrafficType(StrEnum):
    """A send's category, the `TrafficType` parameter: only marketing is held by quiet hours."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


#: Most sends are transactional: their reason is made once.
_NOT_SUBJECT = {traffic: Reason("quiet.not_subject", traffic=traffic.value) for traffic in TrafficType}


class Action(StrEnum):
    ALLOWED = "allowed"
    HOLD = "hold"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Decision:
    """What quiet hours say about one send, with what Explain and the message record show: the rule
    that decided (file:line), the recipient's local time and the window, and the release time."""

    action: Action
    reason: str
    local_time: str | None = None  # "2026-12-01 21:30 America/New_York (Tue)"; each zone, "; "-joined
    rule: str | None = None  # "countries/US.toml:17": the [quiet_hours] table that decided
    window: str | None = None  # "US: Mon-Sun 08:00-21:00"
    release_at: datetime | None = None  # hold: when the window opens (UTC)


def decide(number: str, traffic: TrafficType, at: datetime, policy: Policy, own: SendWindows | None = None) -> Decision:
    """The quiet-hours verdict for a send of `traffic` to the E.164 `number` at the aware `at`; `own`
    is the Messaging Service's own windows (`service_windows`), which apply on top of the law's."""
    if traffic is not TrafficType.MARKETING:
        return Decision(Action.ALLOWED, _NOT_SUBJECT[traffic])
    parsed = phonenumbers.parse(number.removeprefix("whatsapp:"), None)
    country = phonenumbers.region_code_for_number(parsed)
    rules = applicable(policy, country, parsed) + ([own] if own is not None else [])
    if not rules:
        return Decision(Action.ALLOWED, Reason("quiet.no_window", country=country))
    zones = tuple(ZoneInfo(name) for name in time_zones_for_number(parsed))
    local = "; ".join(f"{at.astimezone(z):%Y-%m-%d %H:%M} {z.key} ({at.astimezone(z):%a})" for z in zones)
    blocking = _blocking(rules, zones, at)
    if blocking is None:
        return Decision(Action.ALLOWED, _INSIDE, local, _cite(rules), _describe(rules))
    rule, window = _cite([blocking]), _describe([blocking])
    release = next((t for t in _openings(rules, zones, at) if _blocking(rules, zones, t) is None), None)
    if release is None:
        return Decision(
            Action.REFUSE, Reason("quiet.never_opens", number=number, days=HORIZON.days), local, rule, window
        )
    if blocking.outside is Outside.REFUSE:
        return Decision(Action.REFUSE, Reason("quiet.policy_refuses"), local, rule, window, release)
    return Decision(Action.HOLD, Reason("quiet.held"), local, rule, window, release)


def quiet_hours_verdict(
    number: str,
    traffic: TrafficType,
    traffic_source: str,
    at: datetime,
    policy: Policy,
    *,
    reply: bool,
    own: SendWindows | None = None,
) -> GateVerdict:
    """The quiet-hours gate for a send: `decide`'s verdict as the send path and Explain record it,
    with the error a refusal answers.  A reply to the person's own message (an opt-out
    confirmation, a HELP reply) is never held."""
    if reply:
        return GateVerdict(
            QUIET_HOURS, SKIP, _REPLY, "gateway: reply to an inbound message", {"traffic_type": traffic.value}
        )
    found = decide(number, traffic, at, policy, own)
    facts = {
        "traffic_type": traffic.value,
        "traffic_type_source": traffic_source,
        "local_time": found.local_time,
        "window": found.window,
        "until": iso8601(found.release_at),
    }
    source = found.rule or traffic_source
    if found.action is Action.HOLD:
        return GateVerdict(QUIET_HOURS, HOLD, Reason("quiet.held_in", window=found.window), source, facts)
    if found.action is Action.REFUSE:
        said = {"number": number, "local_time": found.local_time, "window": found.window, "rule": found.rule}
        error = OutsideSendWindow(
            Reason("quiet.refused_until", **said, at=iso8601(found.release_at))
            if found.release_at
            else Reason("quiet.refused", **said)
        )
        return GateVerdict(QUIET_HOURS, REFUSE, error.message, source, facts, error)
    return GateVerdict(QUIET_HOURS, PASS if found.rule else SKIP, found.reason, source, facts)


@lru_cache(maxsize=1024)
def service_windows(service_sid: str, text: str) -> SendWindows:
    """A Messaging Service's `QuietHours` (windows one per line, as the policy files write them) as
    the rule `decide` applies on top of the law's: held outside them, cited as the service's setting.
    Raises ValueError for a window that does not parse (the API refuses it before it is stored)."""
    source = f"service {service_sid}: QuietHours"
    windows = tuple(parse_window(line, source) for line in text.splitlines() if line.strip())
    return SendWindows(f"service {service_sid}", "", None, windows, False, Outside.HOLD, source)


def applicable(policy: Policy, country: str | None, parsed: phonenumbers.PhoneNumber) -> list[SendWindows]:
    """The country's windows, then the windows of the state the number belongs to, if any."""
    country_policy = policy.countries.get(country) if country else None
    if country_policy is None or country_policy.quiet_hours is None:
        return []
    rules = [country_policy.quiet_hours]
    state = subdivision_of(parsed, country_policy.country) if country_policy.state_hours else None
    if state is not None and state in country_policy.state_hours:
        rules.append(country_policy.state_hours[state])
    return rules


def subdivision_of(parsed: phonenumbers.PhoneNumber, country: str) -> str | None:
    """The state a number belongs to, where its area code tells it: phonenumbers' English
    description ("New York, NY", "Florida", "Washington State") read against the `holidays`
    package's subdivision codes and names; None for a number of no one state (toll-free)."""
    description = geocoder.description_for_number(parsed, "en")
    known = subdivisions(country)
    code = description.rpartition(", ")[2]
    if code in known:
        return code
    names = _subdivision_names(country)
    return names.get(description) or names.get(description.removesuffix(" State"))


@cache
def _subdivision_names(country: str) -> dict[str, str]:
    aliases = holidays.country_holidays(country).subdivisions_aliases
    return {name: code for name, code in aliases.items() if len(name) > 3}


@lru_cache(maxsize=256)
def _holidays(country: str, subdivision: str | None) -> holidays.HolidayBase:
    """Public holidays as the `holidays` package keeps them (years are added as asked for)."""
    return holidays.country_holidays(country, subdiv=subdivision)


def _allows(rule: SendWindows, local: datetime) -> bool:
    if rule.closed_on_holidays and local.date() in _holidays(rule.country, rule.subdivision):
        return False
    return any(w.allows(local.weekday(), local.time()) for w in rule.windows)


def _blocking(rules: list[SendWindows], zones: tuple[ZoneInfo, ...], at: datetime) -> SendWindows | None:
    """The first rule (the most specific one first) that does not allow `at` in some zone, or None."""
    for rule in reversed(rules):
        if not all(_allows(rule, at.astimezone(zone)) for zone in zones):
            return rule
    return None


def _openings(rules: list[SendWindows], zones: tuple[ZoneInfo, ...], at: datetime) -> Iterable[datetime]:
    """Every window opening after `at` up to `HORIZON`, in every zone, earliest first."""
    found: set[datetime] = set()
    for zone in zones:
        today = at.astimezone(zone).date()
        for offset in range(-1, HORIZON.days + 1):
            day = today + timedelta(days=offset)
            found.update(
                _opening(day, window.start, zone)
                for rule in rules
                for window in rule.windows
                if day.weekday() in window.days
            )
    return sorted(t for t in found if at < t <= at + HORIZON)


def _opening(day: date, start: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, start, tzinfo=zone).astimezone(UTC)


def _cite(rules: list[SendWindows]) -> str:
    return ", ".join(rule.source for rule in rules)


def _describe(rules: list[SendWindows]) -> str:
    return "; ".join(
        f"{rule.name}: {', '.join(w.text for w in rule.windows)}"
        + (", closed on public holidays" if rule.closed_on_holidays else "")
        for rule in rules
    )
