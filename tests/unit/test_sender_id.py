"""Alphanumeric sender IDs by country, decided purely from the shipped policy."""

from __future__ import annotations

import dataclasses

from gateway.compliance.sender_id import SenderIdAction, decide_sender_id
from gateway.policy.model import AlphaSupport

NONE: frozenset[str] = frozenset()


def test_unregistered_alpha_to_a_registration_country_is_a_warning_with_30018(shipped):
    """GB requires registration; ACME registered nowhere is sent with a warning, as Twilio does."""
    verdict = decide_sender_id(shipped.policy, "GB", "alpha", "ACME", NONE)
    assert verdict.action is SenderIdAction.WARN and verdict.code == 30018
    assert verdict.support is AlphaSupport.REGISTRATION_REQUIRED and verdict.rule.startswith("countries/GB.toml:")


def test_alpha_registered_for_the_country_is_allowed(shipped):
    verdict = decide_sender_id(shipped.policy, "GB", "alpha", "ACME", frozenset({"GB", "FR"}))
    assert verdict.action is SenderIdAction.ALLOWED and verdict.code is None


def test_alpha_to_a_country_that_supports_it_needs_no_registration(shipped):
    assert decide_sender_id(shipped.policy, "DE", "alpha", "ACME", NONE).action is SenderIdAction.ALLOWED


def test_alpha_to_the_us_is_refused_with_21612(shipped):
    verdict = decide_sender_id(shipped.policy, "US", "alpha", "ACME", NONE)
    assert verdict.action is SenderIdAction.REFUSE and verdict.code == 21612


def test_unregistered_alpha_is_refused_where_the_policy_says_refuse(shipped):
    policy = shipped.policy
    strict = dataclasses.replace(
        policy,
        countries={**policy.countries, "GB": dataclasses.replace(policy.countries["GB"], unregistered_alpha="refuse")},
    )
    verdict = decide_sender_id(strict, "GB", "alpha", "ACME", NONE)
    assert verdict.action is SenderIdAction.REFUSE and verdict.code == 30018


def test_a_phone_number_sender_is_not_checked(shipped):
    verdict = decide_sender_id(shipped.policy, "GB", "long_code", "+447400123456", NONE)
    assert verdict.action is SenderIdAction.ALLOWED and verdict.support is None
