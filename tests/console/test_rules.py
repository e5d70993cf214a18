"""The console's pure rules: reading typed numbers, the windows after an opt-out, the overview's figures,
the charts, the language choice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

from gateway.console.charts import daily_bars
from gateway.console.figures import FAIR, GOOD, NO_DATA, POOR, percentile, summarize, window_days
from gateway.console.i18n import duration, negotiate, parse_accept_language
from gateway.console.numbers import guess_regions, read_number, windows
from tests.conftest import FR_MOBILE, GB_MOBILE, US_MOBILE

SERVICE = "MG" + "1" * 32


def test_a_french_number_in_national_format_is_read_with_the_country_chosen():
    assert read_number("06 12 34 56 78", ["FR"]) == [FR_MOBILE]


def test_international_formats_need_no_country():
    assert read_number("+33 6 12 34 56 78", []) == [FR_MOBILE]
    assert read_number("0033612345678", []) == [FR_MOBILE]
    assert read_number("whatsapp:+12015550123", []) == [US_MOBILE]


def test_a_local_number_is_kept_in_each_country_where_it_is_valid():
    """'07400 123456' is only British; '(201) 555-0123' is valid in London too, so both are offered."""
    assert read_number("07400 123456", ["US", "GB"]) == [GB_MOBILE]
    assert read_number("(201) 555-0123", ["GB", "US"]) == ["+442015550123", US_MOBILE]
    assert read_number("hello", ["US"]) == []


def test_regions_come_from_the_choice_else_the_browser_then_the_senders():
    assert guess_regions("fr", "en-US", ["GB"]) == ["FR"]
    assert guess_regions(None, "fr-CA,fr;q=0.8,en-GB;q=0.5", ["DE"]) == ["CA", "GB", "DE", "US"]


def _event(kind: str, at: str, scope: str = SERVICE, channel: str = "sms") -> dict[str, str]:
    return {"kind": kind, "date": at, "scope": scope, "channel": channel}


def _message(
    at: datetime,
    direction: str = "outbound-api",
    status: str = "delivered",
    to: str = US_MOBILE,
    service_sid: str | None = SERVICE,
) -> SimpleNamespace:
    return SimpleNamespace(
        sid="SM1",
        to=to,
        direction=direction,
        status=status,
        service_sid=service_sid,
        sender_sid="PN1",
        date_created=at,
        date_sent=None if status == "canceled" else at,
    )


def test_an_app_message_after_an_opt_out_is_a_violation_and_the_confirmation_is_not():
    events = [_event("opt_out", "2026-11-20T10:00:00Z")]  # newest first, as number_record lists them
    messages = [
        _message(datetime(2026, 11, 20, 11, tzinfo=UTC)),
        _message(datetime(2026, 11, 20, 10, 0, 0, 500000, tzinfo=UTC), direction="outbound-reply"),
    ]
    [window] = windows(events, messages)
    assert [verdict for _, verdict in window.messages] == ["reply", "sent"] and window.violations == 1


def test_the_window_ends_when_the_number_opts_back_in_to_that_scope_and_channel():
    events = [
        _event("opt_in", "2026-11-21T09:00:00Z"),
        _event("opt_in", "2026-11-20T12:00:00Z", channel="whatsapp"),
        _event("opt_out", "2026-11-20T10:00:00Z"),
    ]
    messages = [_message(datetime(2026, 11, 22, tzinfo=UTC)), _message(datetime(2026, 11, 20, 15, tzinfo=UTC))]
    [window] = windows(events, messages)
    assert window.until == "2026-11-21T09:00:00Z" and len(window.messages) == 1


def test_messages_of_another_service_or_canceled_ones_are_no_violation():
    events = [_event("opt_out", "2026-11-20T10:00:00Z")]
    messages = [
        _message(datetime(2026, 11, 20, 11, tzinfo=UTC), service_sid="MG" + "2" * 32),
        _message(datetime(2026, 11, 20, 11, tzinfo=UTC), status="canceled"),
    ]
    [window] = windows(events, messages)
    assert [verdict for _, verdict in window.messages] == ["canceled"]


def test_an_account_wide_opt_out_covers_every_service():
    [window] = windows(
        [_event("opt_out", "2026-11-20T10:00:00Z", scope="account")],
        [_message(datetime(2026, 11, 20, 11, tzinfo=UTC), service_sid="MG" + "2" * 32)],
    )
    assert window.violations == 1


def _rows(**counts: int) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(day="2026-11-23", direction="outbound-api", status=status, service_sid=SERVICE, count=n)
        for status, n in counts.items()
    ]


def test_delivery_rate_counts_only_messages_that_ended():
    overview = summarize(
        window_days(date(2026, 11, 23)),
        _rows(delivered=90, undelivered=5, failed=5, queued=50),
        [],
        [],
        [],
        {SERVICE: "Acme"},
    )
    assert overview.delivery_rate == 0.9 and overview.series["outbound"][-1] == 150
    assert overview.health[0].grade == FAIR


def test_stop_rate_is_keyword_opt_outs_over_delivered_per_service():
    consents = [
        SimpleNamespace(day="2026-11-23", opted_out=True, source="keyword", scope=SERVICE, count=3),
        SimpleNamespace(day="2026-11-23", opted_out=True, source="console", scope=SERVICE, count=9),
    ]
    overview = summarize(window_days(date(2026, 11, 23)), _rows(delivered=100), consents, [], [], {SERVICE: "Acme"})
    [rate] = overview.stop_rates
    assert (rate.label, rate.numerator, rate.denominator, rate.value) == ("Acme", 3, 100, 0.03)
    assert overview.series["opt_outs"][-1] == 12 and overview.health[1].grade == POOR


def test_health_is_as_good_as_its_worst_measured_part():
    overview = summarize(window_days(date(2026, 11, 23)), _rows(delivered=100), [], [], [1.0] * 99 + [30.0], {})
    assert [g.grade for g in overview.health] == [GOOD, GOOD, GOOD]
    assert overview.latency_p95 == 1.0 and overview.overall == GOOD
    assert summarize(window_days(date(2026, 11, 23)), [], [], [], [], {}).overall == NO_DATA


def test_error_codes_are_grouped_by_the_recipients_country():
    errors = [
        SimpleNamespace(error_code=30003, sender="+12015550124", prefix="+3361", sample=FR_MOBILE, count=4),
        SimpleNamespace(error_code=30003, sender="+12015550124", prefix="+1201", sample=US_MOBILE, count=1),
    ]
    overview = summarize(window_days(date(2026, 11, 23)), [], [], errors, [], {})
    assert overview.errors_by_country == [(30003, "FR", 4), (30003, "US", 1)]
    assert overview.errors_by_sender == [(30003, "+12015550124", 5)]


def test_percentile_is_nearest_rank():
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 0.5) == 3.0 and percentile([], 0.95) is None


def test_the_chart_has_a_bar_per_day_with_its_value_as_title():
    svg = str(daily_bars(["2026-11-22", "2026-11-23"], [0, 7], series="opt_outs", label="Opt-outs <all>"))
    assert svg.count("<rect") == 2 and "<title>2026-11-23: 7</title>" in svg and "Opt-outs &lt;all&gt;" in svg


def test_accept_language_is_read_by_quality():
    assert parse_accept_language("en;q=0.5, fr-CA, de;q=0") == ["fr-ca", "en"]
    assert negotiate(["fr-ca", "en"], frozenset({"en", "fr"})) == "fr"


def test_durations_read_as_people_say_them():
    assert [duration(s) for s in (0.42, 42, 200, 18720, None)] == ["0.4 s", "42 s", "3 min 20 s", "5 h 12 min", "—"]
