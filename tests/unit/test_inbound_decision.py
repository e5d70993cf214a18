"""The inbound decision, pure: what STOP, START and HELP change, and when they are confirmed."""

from datetime import UTC, datetime, timedelta

from gateway.compliance.inbound import ConsentChange, decide
from gateway.policy.matcher import Match
from gateway.policy.model import Kind

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SERVICE = "MG" + "a" * 32
STOP = Match(Kind.STOP, "STOP", "en", "opt_out")
STOPALL = Match(Kind.STOP, "STOPALL", "en", "opt_out", account_wide=True)
START = Match(Kind.START, "START", "en", "opt_in")
HELP = Match(Kind.HELP, "HELP", "en", "help")


def decision(match, **overrides):
    options = {
        "scope": SERVICE,
        "channel": "sms",
        "account_scope": False,
        "linked": False,
        "opted_out": frozenset(),
        "last_confirmed": None,
        "now": NOW,
    } | overrides
    return decide(match, **options)


def test_stop_opts_out_of_the_service_on_this_channel():
    assert decision(STOP).changes == (ConsentChange(SERVICE, "sms", True),)


def test_stopall_opts_out_of_the_whole_account():
    assert decision(STOPALL).changes == (ConsentChange("*", "sms", True),)


def test_an_account_scoped_policy_makes_stop_account_wide():
    assert decision(STOP, account_scope=True).changes == (ConsentChange("*", "sms", True),)


def test_linked_channels_stop_sms_and_whatsapp_together():
    assert decision(STOP, linked=True).changes == (
        ConsentChange(SERVICE, "sms", True),
        ConsentChange(SERVICE, "whatsapp", True),
    )


def test_start_also_lifts_an_account_wide_block_so_it_is_not_in_vain():
    assert decision(START, opted_out=frozenset({(SERVICE, "sms"), ("*", "sms")})).changes == (
        ConsentChange(SERVICE, "sms", False),
        ConsentChange("*", "sms", False),
    )


def test_start_lifts_only_the_blocks_that_exist():
    assert decision(START, opted_out=frozenset({("*", "sms")})).changes == (ConsentChange("*", "sms", False),)


def test_start_from_a_number_that_never_opted_out_changes_nothing_and_is_confirmed():
    result = decision(START)
    assert result.changes == () and result.confirm and result.opt_out_type is Kind.START


def test_a_repeated_stop_changes_nothing_but_is_still_a_stop_for_the_app():
    result = decision(STOP, opted_out=frozenset({(SERVICE, "sms")}))
    assert result.changes == () and result.opt_out_type is Kind.STOP


def test_a_repeated_stop_after_the_window_is_confirmed_again():
    """Consent did not change, but the person asked again long after the last confirmation."""
    assert decision(STOP, opted_out=frozenset({(SERVICE, "sms")}), last_confirmed=NOW - timedelta(hours=1)).confirm


def test_a_stop_on_linked_channels_adds_only_the_channel_still_subscribed():
    assert decision(STOP, linked=True, opted_out=frozenset({(SERVICE, "sms")})).changes == (
        ConsentChange(SERVICE, "whatsapp", True),
    )


def test_help_changes_nothing_and_is_confirmed():
    result = decision(HELP)
    assert result.changes == () and result.confirm and result.opt_out_type is Kind.HELP


def test_no_keyword_changes_nothing_and_sends_nothing():
    result = decision(None)
    assert (result.opt_out_type, result.changes, result.confirm) == (None, (), False)


def test_a_second_stop_within_five_minutes_is_not_confirmed_again():
    assert not decision(STOP, last_confirmed=NOW - timedelta(minutes=4)).confirm
    assert decision(STOP, last_confirmed=NOW - timedelta(minutes=5)).confirm
