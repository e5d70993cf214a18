"""The provider circuit breaker and routing's preference for healthy providers, with explicit times."""

from __future__ import annotations

from gateway.providers.health import ProviderHealth
from gateway.routing import Candidate, Recipient, Rule, SenderKind, choose_sender
from tests.conftest import FR_MOBILE

PLIVO_NUMBER = Candidate("PN" + "1" * 32, "+12015550124", SenderKind.LONG_CODE, "US", "201")
TELNYX_NUMBER = Candidate("PN" + "2" * 32, "+12125550100", SenderKind.LONG_CODE, "US", "212")
FRENCH_NUMBER = Candidate("PN" + "3" * 32, "+33612345678", SenderKind.MOBILE, "FR")
FRENCH = Recipient(FR_MOBILE, "FR")


def test_failures_for_less_than_the_window_leave_a_provider_healthy():
    health = ProviderHealth(window=10, probe_interval=5)
    health.failure("plivo", 100.0)
    health.failure("plivo", 109.9)
    assert health.unhealthy() == frozenset() and health.allow("plivo", 110.0)


def test_only_failures_for_the_window_make_a_provider_unhealthy_since_then():
    health = ProviderHealth(window=10, probe_interval=5)
    health.failure("plivo", 100.0)
    health.failure("plivo", 110.0)
    assert health.unhealthy() == {"plivo"}
    assert health.report()["plivo"]["state"] == "unhealthy" and health.report()["plivo"]["since"]


def test_one_success_in_the_window_resets_the_streak():
    health = ProviderHealth(window=10, probe_interval=5)
    health.failure("plivo", 100.0)
    health.success("plivo", 105.0)
    health.failure("plivo", 110.0)
    assert health.unhealthy() == frozenset()


def test_an_unhealthy_provider_gets_one_probe_per_interval():
    health = ProviderHealth(window=1, probe_interval=5)
    health.failure("plivo", 100.0)
    health.failure("plivo", 101.0)
    assert not health.allow("plivo", 103.0)
    assert health.allow("plivo", 106.0)  # the probe
    assert not health.allow("plivo", 106.1)  # one at a time


def test_a_failed_probe_keeps_it_unhealthy_and_a_good_one_heals_it():
    health = ProviderHealth(window=1, probe_interval=5)
    health.failure("plivo", 100.0)
    health.failure("plivo", 101.0)
    assert health.allow("plivo", 106.0)
    health.failure("plivo", 106.5)
    assert health.unhealthy() == {"plivo"} and not health.allow("plivo", 110.0) and health.allow("plivo", 111.6)
    health.success("plivo", 111.8)
    assert health.unhealthy() == frozenset() and health.report()["plivo"] == {"state": "healthy", "since": None}


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
