"""The gateway's clock: tests set and advance it; those waiting on it are told at once."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.dates import Clock, rfc2822, utcnow

EVENING_IN_NEW_YORK = datetime(2026, 3, 10, 21, 30, tzinfo=ZoneInfo("America/New_York"))


def test_set_makes_now_that_moment_and_time_runs_on() -> None:
    """After set(21:30 New York), now() reads 21:30 New York (01:30 UTC the next day) and keeps moving."""
    clock = Clock()
    clock.set(EVENING_IN_NEW_YORK)
    first = clock.now()
    assert timedelta(0) <= first - EVENING_IN_NEW_YORK < timedelta(seconds=1)
    assert first.tzinfo is not None and first.astimezone(UTC).hour == 1
    assert clock.now() >= first


def test_advance_jumps_forward_by_the_given_time() -> None:
    """advance(10.5 hours) after set() reads 08:00 New York the next morning."""
    clock = Clock()
    clock.set(EVENING_IN_NEW_YORK)
    clock.advance(timedelta(hours=10, minutes=30))
    local = clock.now().astimezone(ZoneInfo("America/New_York"))
    assert (local.day, local.hour, local.minute) == (11, 8, 0)


def test_listeners_hear_every_move_until_they_unsubscribe() -> None:
    """on_change listeners run after set, advance and reset; unsubscribing stops them."""
    clock, heard = Clock(), []
    unsubscribe = clock.on_change(lambda: heard.append(clock.now()))
    clock.set(EVENING_IN_NEW_YORK)
    clock.advance(60)
    clock.reset()
    assert len(heard) == 3 and heard[1] - heard[0] >= timedelta(seconds=60)
    unsubscribe()
    clock.advance(60)
    assert len(heard) == 3


def test_a_naive_moment_is_refused() -> None:
    """set() without a time zone would be ambiguous: it raises."""
    with pytest.raises(ValueError):
        Clock().set(datetime(2026, 3, 10, 21, 30))


def test_utcnow_reads_the_process_clock(clock: Clock) -> None:
    """`utcnow()`, which every part of the gateway calls, follows the shared clock."""
    clock.set(EVENING_IN_NEW_YORK)
    assert timedelta(0) <= utcnow() - EVENING_IN_NEW_YORK < timedelta(seconds=1)


@given(st.datetimes(timezones=st.sampled_from([UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")])))
def test_rfc2822_writes_what_the_email_module_writes_in_utc(moment: datetime) -> None:
    """Twilio's date format, hand-written for speed, is exactly the standard library's, seconds truncated."""
    assert rfc2822(moment) == email.utils.format_datetime(moment.astimezone(UTC).replace(microsecond=0))
