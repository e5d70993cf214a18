"""Masking phone numbers in log text: the country code and the last digits stay, nothing else does."""

import pytest

from gateway.errors import SettingsError
from gateway.observability.logs import mask
from gateway.settings import load_settings
from tests.conftest import FR_MOBILE, GB_MOBILE, US_MOBILE


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"inbound from {US_MOBILE}", "inbound from +1******0123"),
        (f"to whatsapp:{FR_MOBILE}", "to whatsapp:+33*****5678"),
        (f"msisdn {GB_MOBILE[1:]} (Vonage writes no plus)", "msisdn ********3456 (Vonage writes no plus)"),
        ("call (201) 555-0123 or 201-555-0123 or 201.555.0123", "call (***) ***-0123 or ***-***-0123 or ***.***.0123"),
        ("UK 07400 123456, FR 06 12 34 56 78", "UK ***** **3456, FR ** ** ** 56 78"),
        (f"sender {US_MOBILE}.", "sender +1******0123."),
    ],
)
def test_numbers_keep_their_country_code_and_last_digits(text, masked):
    assert mask(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "SM0123456789abcdef0123456789abcdef",
        "at 2026-12-01 19:27:59",
        "listening on 127.0.0.1:8080",
        "retrying SM1 in 12.5s",
        "took 1764617279.123 s",
        "delivery 12 is dead after 3 attempts",
        "0 12 34",
    ],
)
def test_sids_times_addresses_and_counts_are_left_alone(text):
    assert mask(text) == text


def test_an_unknown_log_format_names_the_variable():
    with pytest.raises(SettingsError, match="GATEWAY_LOG_FORMAT"):
        load_settings({"GATEWAY_LOG_FORMAT": "xml"})
