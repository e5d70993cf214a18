"""The provider circuit breaker's decisions and routing's preference for healthy providers, with explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.providers.health import Change, Outage, ProviderHealth
from gateway.routing import Candidate, Recipient, Rule, SenderKind, choose_sender
from tests.conftest import FR_MOBILE

PLIVO_NUMBER = Candidate("PN" + "1" * 32, "+12015550124", SenderKind.LONG_CODE, "US", "201")
TELNYX_NUMBER = Candidate("PN" + "2" * 32, "+12125550100", SenderKind.LONG_CODE, "US", "212")
FRENCH_NUMBER = Candidate("PN" + "3" * 32, "+33612345678", SenderKind.MOBILE, "FR")
FRENCH = Recipient(FR_MOBILE, "FR")


T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def marked(health: ProviderHealth, provider: str, seconds: float) -> None:
    """What the caller does with `Change.MARK`: the outage recorded, as every process then reads it."""
    health.marked(provider, Outage(at(seconds), at(seconds + health.probe_interval)))


def test_failures_for_less_than_the_window_ask_for_no_outage():
    health = ProviderHealth(window=10, probe_interval=5)
    assert [health.failure("plivo", at(0)), health.failure("plivo", at(9.9))] == [Change.NONE, Change.NONE]
    assert health.unhealthy() == frozenset() and health.may_probe("plivo", at(10)) is None


def test_only_failures_for_the_window_ask_for_the_outage_to_be_recorded():
    health = ProviderHealth(window=10, probe_interval=5)
    health.failure("plivo", at(0))
    assert health.failure("plivo", at(10)) is Change.MARK


def test_a_recorded_outage_is_reported_unhealthy_since_then():
    health = ProviderHealth(window=10, probe_interval=5)
    marked(health, "plivo", 10)
    assert health.unhealthy() == {"plivo"}
    assert health.report() == {"plivo": {"state": "unhealthy", "since": "2026-12-01T09:00:10Z"}}


def test_one_success_in_the_window_resets_the_streak():
    health = ProviderHealth(window=10, probe_interval=5)
    health.failure("plivo", at(0))
    health.success("plivo")
    assert health.failure("plivo", at(10)) is Change.NONE


def test_an_outage_another_process_recorded_is_probed_only_when_its_probe_is_due():
    health = ProviderHealth(window=1, probe_interval=5)
    health.seen({"plivo": Outage(at(0), at(5))})
    assert health.may_probe("plivo", at(3)) is False and health.wait("plivo", at(3)) == 2.0
    assert health.may_probe("plivo", at(5)) is True


def test_a_lost_probe_claim_waits_the_interval_like_a_won_one():
    health = ProviderHealth(window=1, probe_interval=5)
    health.seen({"plivo": Outage(at(0), at(5))})
    health.claimed("plivo", at(5), won=False)
    assert health.may_probe("plivo", at(6)) is False and health.report()["plivo"]["state"] == "probing"


def test_a_failed_probe_is_reported_and_a_good_answer_heals():
    health = ProviderHealth(window=1, probe_interval=5)
    health.seen({"plivo": Outage(at(0), at(5))})
    health.claimed("plivo", at(5), won=True)
    assert health.failure("plivo", at(5.5)) is Change.PROBE_FAILED
    health.claimed("plivo", at(10), won=True)
    assert health.success("plivo") is Change.HEAL


def test_failures_from_before_an_outage_do_not_count_after_it_ended():
    """Another process's probe healed it: this process's old streak starts again from nothing."""
    health = ProviderHealth(window=10, probe_interval=5)
    health.failure("plivo", at(0))
    health.seen({"plivo": Outage(at(10), at(15))})
    health.seen({})
    assert health.failure("plivo", at(20)) is Change.NONE and health.failure("plivo", at(30)) is Change.MARK


def test_routing_prefers_a_healthy_providers_sender_within_the_tier():
    """Both US numbers are the French recipient's US-fallback tier: the healthy one wins despite more load."""
    route = choose_sender([PLIVO_NUMBER, TELNYX_NUMBER], FRENCH, load={TELNYX_NUMBER.sid: 50}, avoid=[PLIVO_NUMBER.sid])
    assert route.sender == TELNYX_NUMBER


def test_routing_never_leaves_the_best_tier_for_health():
    """A number of the recipient's own country stays the route while its provider is unhealthy: its messages wait."""
    route = choose_sender([FRENCH_NUMBER, TELNYX_NUMBER], FRENCH, avoid=[FRENCH_NUMBER.sid])
    assert (route.sender, route.rule) == (FRENCH_NUMBER, Rule.COUNTRY)


def test_a_sticky_mapping_to_an_unhealthy_provider_is_passed_over_but_not_rewritten():
    route = choose_sender(
        [PLIVO_NUMBER, TELNYX_NUMBER], FRENCH, sticky=PLIVO_NUMBER.sid, sticky_sender=True, avoid=[PLIVO_NUMBER.sid]
    )
    assert route.sender == TELNYX_NUMBER and route.new_sticky is False


def test_a_sticky_mapping_with_no_healthy_alternative_in_its_tier_stays():
    route = choose_sender([PLIVO_NUMBER], FRENCH, sticky=PLIVO_NUMBER.sid, sticky_sender=True, avoid=[PLIVO_NUMBER.sid])
    assert (route.sender, route.rule, route.new_sticky) == (PLIVO_NUMBER, Rule.STICKY, False)
