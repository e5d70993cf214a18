"""Twilio's scheduling window, as the pure gate and the setting apply it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.compliance.gates import check_schedule
from gateway.errors import SendAtOutOfWindow, SettingsError
from gateway.lifecycle import MAX_SCHEDULE_AHEAD
from gateway.settings import load_settings

NOW = datetime(2026, 3, 11, 1, 30, tzinfo=UTC)
MINIMUM = timedelta(seconds=900)
SERVICE = "MG" + "0" * 32


def scheduled(send_at: str) -> datetime | None:
    return check_schedule("fixed", send_at, service_sid=SERVICE, now=NOW, minimum=MINIMUM)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def test_the_window_includes_both_ends() -> None:
    """SendAt exactly the minimum ahead, and exactly 35 days ahead, are scheduled."""
    assert scheduled(iso(NOW + MINIMUM)) == NOW + MINIMUM
    assert scheduled(iso(NOW + MAX_SCHEDULE_AHEAD)) == NOW + MAX_SCHEDULE_AHEAD


@pytest.mark.parametrize(
    "send_at",
    [NOW + MINIMUM - timedelta(seconds=1), NOW + MAX_SCHEDULE_AHEAD + timedelta(seconds=1)],
    ids=["a-second-too-soon", "a-second-too-far"],
)
def test_a_second_outside_the_window_is_35115(send_at: datetime) -> None:
    """One second sooner than the minimum, or later than 35 days, is refused with 35115."""
    with pytest.raises(SendAtOutOfWindow) as refused:
        scheduled(iso(send_at))
    assert refused.value.code == 35115


def test_an_offset_other_than_utc_is_read_as_that_moment() -> None:
    """`21:30-05:00` (New York in winter) is 02:30 UTC the next day."""
    assert scheduled("2026-03-10T22:30:00-05:00") == datetime(2026, 3, 11, 3, 30, tzinfo=UTC)


def test_no_schedule_type_and_no_send_at_is_a_send_now() -> None:
    """Without ScheduleType and SendAt nothing is scheduled (and no Messaging Service is needed)."""
    assert check_schedule(None, None, service_sid=None, now=NOW, minimum=MINIMUM) is None


def test_the_minimum_comes_from_gateway_schedule_min_seconds() -> None:
    """GATEWAY_SCHEDULE_MIN_SECONDS sets the minimum; without it, 900 s."""
    assert load_settings({"GATEWAY_SCHEDULE_MIN_SECONDS": "300"}).schedule_min_seconds == 300
    assert load_settings({}).schedule_min_seconds == 900


def test_a_minimum_of_35_days_or_more_stops_the_start() -> None:
    """A minimum that leaves no window names the variable."""
    with pytest.raises(SettingsError, match="GATEWAY_SCHEDULE_MIN_SECONDS"):
        load_settings({"GATEWAY_SCHEDULE_MIN_SECONDS": str(int(MAX_SCHEDULE_AHEAD.total_seconds()))})
