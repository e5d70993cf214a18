"""Quiet hours, decided purely: the shipped windows read in the recipient's local time."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import phonenumbers
import pytest

from gateway.compliance.quiet_hours import Action, TrafficType, decide, subdivision_of
from gateway.policy.windows import parse_window
from tests.conftest import FR_MOBILE, ROOT, US_MOBILE

NEW_YORK = "+12125550100"  # Manhattan, America/New_York
MIAMI = "+13055550100"  # Florida
TULSA = "+19185550100"  # Oklahoma, America/Chicago
AUSTIN = "+15125550100"  # Texas
US_TOLL_FREE = "+18005550100"  # no state, every NANP time zone
BERLIN = "+4915123456789"  # Germany ships no window
MARKETING, TRANSACTIONAL = TrafficType.MARKETING, TrafficType.TRANSACTIONAL


def line_of(country: str, text: str) -> int:
    lines = (ROOT / "policies" / "countries" / f"{country}.toml").read_text("utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(text))


def at(text: str, zone: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def test_marketing_at_2130_in_new_york_is_held_until_0800(shipped):
    """21:30 on a Tuesday in New York is after the TCPA's 21:00: held until 08:00 the next morning."""
    verdict = decide(NEW_YORK, MARKETING, at("2026-12-01 21:30", "America/New_York"), shipped.policy)
    assert verdict.action is Action.HOLD
    assert verdict.release_at == at("2026-12-02 08:00", "America/New_York")
    assert (
        verdict.rule == f"countries/US.toml:{line_of('US', '[quiet_hours]')}"
        and verdict.window == "US: Mon-Sun 08:00-21:00"
    )
    assert verdict.local_time == "2026-12-01 21:30 America/New_York (Tue)"


def test_transactional_at_2130_in_new_york_goes_now(shipped):
    verdict = decide(NEW_YORK, TRANSACTIONAL, at("2026-12-01 21:30", "America/New_York"), shipped.policy)
    assert verdict.action is Action.ALLOWED and verdict.release_at is None


def test_marketing_inside_the_federal_window_goes_now(shipped):
    verdict = decide(NEW_YORK, MARKETING, at("2026-12-01 08:00", "America/New_York"), shipped.policy)
    assert verdict.action is Action.ALLOWED and verdict.window == "US: Mon-Sun 08:00-21:00"


def test_florida_number_at_2030_is_held_by_the_state_window(shipped):
    """20:30 is inside the federal window but after Florida's 20:00: the FL table decides."""
    verdict = decide(MIAMI, MARKETING, at("2026-12-01 20:30", "America/New_York"), shipped.policy)
    assert verdict.action is Action.HOLD and verdict.window == "US-FL: Mon-Sun 08:00-20:00"
    assert verdict.release_at == at("2026-12-02 08:00", "America/New_York")


def test_oklahoma_window_is_read_in_central_time(shipped):
    """19:30 in Tulsa (Central) is inside Oklahoma's 20:00 although it is 20:30 in New York."""
    verdict = decide(TULSA, MARKETING, at("2026-12-01 19:30", "America/Chicago"), shipped.policy)
    assert verdict.action is Action.ALLOWED


def test_texas_sunday_morning_waits_until_noon(shipped):
    verdict = decide(AUSTIN, MARKETING, at("2026-12-06 10:00", "America/Chicago"), shipped.policy)
    assert verdict.action is Action.HOLD and verdict.release_at == at("2026-12-06 12:00", "America/Chicago")


def test_french_marketing_on_sunday_is_held_to_monday_0800(shipped):
    verdict = decide(FR_MOBILE, MARKETING, at("2026-12-06 11:00", "Europe/Paris"), shipped.policy)
    assert verdict.action is Action.HOLD and verdict.release_at == at("2026-12-07 08:00", "Europe/Paris")
    assert verdict.window == "FR: Mon-Sat 08:00-22:00, closed on public holidays"


def test_french_marketing_on_a_public_holiday_waits_for_the_next_working_day(shipped):
    """Friday 25 December 2026 is Christmas: held to Saturday 08:00."""
    verdict = decide(FR_MOBILE, MARKETING, at("2026-12-25 10:00", "Europe/Paris"), shipped.policy)
    assert verdict.release_at == at("2026-12-26 08:00", "Europe/Paris")


def test_toll_free_number_must_be_inside_the_window_in_every_zone(shipped):
    """A +1 800 number may ring from Guam to Samoa: 12:00 in New York is still 07:00 in Honolulu."""
    verdict = decide(US_TOLL_FREE, MARKETING, at("2026-12-01 12:00", "America/New_York"), shipped.policy)
    assert verdict.action is Action.HOLD and "Pacific/Honolulu" in verdict.local_time
    release = verdict.release_at
    for zone in ("America/New_York", "Pacific/Honolulu", "Pacific/Guam", "Pacific/Pago_Pago"):
        assert 8 <= release.astimezone(ZoneInfo(zone)).hour < 21


def test_a_country_without_windows_always_allows(shipped):
    verdict = decide(BERLIN, MARKETING, at("2026-12-06 03:00", "Europe/Berlin"), shipped.policy)
    assert verdict.action is Action.ALLOWED and verdict.rule is None


@pytest.mark.parametrize(
    ("number", "state"),
    [
        (NEW_YORK, "NY"),
        (MIAMI, "FL"),
        (TULSA, "OK"),
        ("+12065550100", "WA"),
        ("+12025550100", None),  # Washington D.C., not WA
        (US_TOLL_FREE, None),
        (US_MOBILE, "NJ"),
    ],
)
def test_area_code_tells_the_state(number, state):
    assert subdivision_of(phonenumbers.parse(number), "US") == state


def test_verdict_release_is_utc_aware(shipped):
    verdict = decide(NEW_YORK, MARKETING, at("2026-12-01 23:00", "America/New_York"), shipped.policy)
    assert verdict.release_at is not None and verdict.release_at.tzinfo is UTC


def test_a_window_that_never_opens_in_every_zone_refuses(shipped):
    """An hour-long window cannot be open at once from Guam to Samoa: a toll-free number is refused."""
    policy = shipped.policy
    us = policy.countries["US"]
    narrow = dataclasses.replace(us.quiet_hours, windows=(parse_window("Mon-Sun 08:00-09:00", "test:1"),))
    strict = dataclasses.replace(
        policy, countries={**policy.countries, "US": dataclasses.replace(us, quiet_hours=narrow)}
    )
    verdict = decide(US_TOLL_FREE, MARKETING, at("2026-12-01 12:00", "America/New_York"), strict)
    assert verdict.action is Action.REFUSE and verdict.release_at is None
    assert verdict.reason == f"the send window never opens in every time zone of {US_TOLL_FREE} within 14 days"
