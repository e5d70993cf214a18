"""The quiet-hours and sender-ID settings of the policy files: read, and every mistake named with file and line."""

from __future__ import annotations

from datetime import time

import pytest

from gateway.locales import Catalogs
from gateway.policy.loader import load_policies
from gateway.policy.model import AlphaSupport, Outside
from gateway.policy.windows import parse_window

US = 'country = "US"\nlanguages = ["en"]\n'


def load(policy_tree, country: str):
    policies, locales = policy_tree({"countries/US.toml": country})
    return load_policies(policies, Catalogs.load(locales))


def errors(policy_tree, country: str) -> list[str]:
    return [str(e) for e in load(policy_tree, country).errors]


def test_windows_and_a_state_table_are_read_with_their_lines(policy_tree):
    text = (
        US
        + '[quiet_hours]\nwindows = ["Mon-Sun 08:00-21:00"]\noutside = "refuse"\n\n[quiet_hours.FL]\nwindows = ["Mon-Sun 08:00-20:00"]\n'
    )
    country = load(policy_tree, text).policy.countries["US"]
    assert country.quiet_hours.source == "countries/US.toml:3"
    assert country.quiet_hours.windows[0].source == "countries/US.toml:4"
    florida = country.state_hours["FL"]
    assert (florida.source, florida.outside, florida.windows[0].end) == (
        "countries/US.toml:7",
        Outside.REFUSE,
        time(20),
    )


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("Mon-Fri 09:00-18:00", {0, 1, 2, 3, 4}),
        ("Sun 12:00-21:00", {6}),
        ("Sat,Sun 10:00-17:00", {5, 6}),
        ("Fri-Mon 08:00-20:00", {4, 5, 6, 0}),
    ],
)
def test_window_days_are_names_ranges_and_lists(text, days):
    assert parse_window(text, "x").days == days


def test_a_window_that_closes_before_it_opens_is_an_error_at_its_line(policy_tree):
    text = US + '[quiet_hours]\nwindows = [\n  "Mon-Sun 08:00-21:00",\n  "Sat 21:00-08:00",\n]\n'
    assert errors(policy_tree, text) == [
        "countries/US.toml:6: quiet_hours.windows: 'Sat 21:00-08:00': the window "
        "must open before it closes, on the same day"
    ]


def test_an_unknown_day_is_an_error(policy_tree):
    text = US + '[quiet_hours]\nwindows = ["Mon-Sonday 08:00-21:00"]\n'
    assert (
        "countries/US.toml:4: quiet_hours.windows: 'Mon-Sonday 08:00-21:00': 'mon-sonday' is not a day"
        in errors(policy_tree, text)[0]
    )


def test_a_state_table_must_name_a_state_of_the_country_at_its_header_line(policy_tree):
    text = (
        US + '[quiet_hours]\nwindows = ["Mon-Sun 08:00-21:00"]\n\n[quiet_hours.XX]\nwindows = ["Mon-Sun 08:00-20:00"]\n'
    )
    [error] = errors(policy_tree, text)
    assert error.startswith(
        "countries/US.toml:6: quiet_hours.XX: unknown key (expected windows, closed_on_holidays, "
        "outside, or a [quiet_hours.<state>] table named by a subdivision code of US"
    )


def test_outside_must_be_hold_or_refuse(policy_tree):
    text = US + '[quiet_hours]\nwindows = ["Mon-Sun 08:00-21:00"]\noutside = "drop"\n'
    assert errors(policy_tree, text) == [
        "countries/US.toml:5: quiet_hours.outside: must be 'hold' or 'refuse', not 'drop'"
    ]


def test_missing_windows_is_an_error(policy_tree):
    assert errors(policy_tree, US + "[quiet_hours]\nclosed_on_holidays = true\n") == [
        "countries/US.toml:3: quiet_hours.windows: must list at least one window, e.g. windows = "
        '["Mon-Sun 08:00-21:00"]'
    ]


def test_alpha_sender_takes_the_three_statuses_and_the_older_booleans(policy_tree):
    policy = load(policy_tree, US + 'alpha_sender = "registration_required"\nunregistered_alpha = "refuse"\n').policy
    assert policy.alpha_support("US") is AlphaSupport.REGISTRATION_REQUIRED
    assert policy.unregistered_alpha_for("US") == "refuse" and policy.unregistered_alpha_for("GB") == "warn"
    assert load(policy_tree, US + "alpha_sender = false\n").policy.alpha_support("US") is AlphaSupport.NOT_SUPPORTED


def test_an_unknown_alpha_status_is_an_error(policy_tree):
    assert errors(policy_tree, US + 'alpha_sender = "sometimes"\n') == [
        "countries/US.toml:3: alpha_sender: must be 'supported', 'registration_required' or 'not_supported', "
        "not 'sometimes'"
    ]


def test_unregistered_alpha_must_be_warn_or_refuse(policy_tree):
    assert errors(policy_tree, US + 'unregistered_alpha = "ignore"\n') == [
        "countries/US.toml:3: unregistered_alpha: must be 'warn' or 'refuse', not 'ignore'"
    ]
