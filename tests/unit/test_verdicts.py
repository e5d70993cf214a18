"""The pure parts of an explanation: gate verdicts, the outcome they add up to, where a setting
comes from, and the text staff read."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.compliance.gates import number_verdict, parse_recipient, region_verdict
from gateway.compliance.verdicts import HOLD, PASS, Verdict, outcome
from gateway.dispatch.explain import render
from gateway.errors import RecipientUnsubscribed, RegionNotPermitted
from gateway.routing import WHY, Rule
from tests.conftest import FR_MOBILE, US_MOBILE

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


def test_the_first_refusal_is_the_outcome_even_after_a_hold():
    """A refused gate decides the outcome, and the first refusal is the one answered."""
    verdicts = [
        Verdict("quiet_hours", HOLD, "outside", "countries/US.toml:20", {"until": "2026-12-02T13:00:00Z"}),
        Verdict("geo_permissions", "refuse", "no", "service MG1: GeoPermissions", {}, RegionNotPermitted("geo")),
        Verdict("opt_out", "refuse", "stopped", "consent event 7", {}, RecipientUnsubscribed("opted out")),
    ]
    assert outcome(verdicts, NOW) == {
        "action": "refuse",
        "at": None,
        "code": 21408,
        "message": "geo",
        "gate": "geo_permissions",
    }


def test_of_several_holds_the_latest_release_is_the_outcome():
    verdicts = [
        Verdict("schedule", HOLD, "SendAt", "request: SendAt", {"until": "2026-12-02T01:00:00Z"}),
        Verdict("quiet_hours", HOLD, "night", "countries/US.toml:20", {"until": "2026-12-02T13:00:00Z"}),
    ]
    assert outcome(verdicts, NOW)["at"] == "2026-12-02T13:00:00Z" and outcome(verdicts, NOW)["gate"] == "quiet_hours"


def test_a_send_every_gate_passes_goes_now():
    assert outcome([Verdict("opt_out", PASS, "fine", "opt-out state: scope MG1")], NOW)["at"] == "2026-12-01T15:00:00Z"


def test_region_verdict_refuses_an_unlisted_country_with_21408_but_passes_a_reply():
    refused = region_verdict("FR", frozenset({"US"}), reply_to_inbound=False, source="service MG1: GeoPermissions")
    assert (refused.verdict, refused.error.code if refused.error else None) == ("refuse", 21408)
    assert region_verdict("FR", frozenset({"US"}), reply_to_inbound=True, source="s").verdict == "pass"


def test_number_verdict_says_country_and_area_code():
    verdict = number_verdict(parse_recipient(US_MOBILE))
    assert verdict.reason == f"{US_MOBILE} is a valid US number, area code 201"
    assert number_verdict(parse_recipient(FR_MOBILE)).as_json()["area_code"] is None


def test_alpha_sender_comes_from_the_country_file_line_else_global(shipped):
    """US sets alpha_sender in its own file; Germany has none, so global.toml's line decides."""
    policy = shipped.policy
    assert policy.source_of("US", "alpha_sender").startswith("countries/US.toml:")
    assert policy.source_of("DE", "link_channels").startswith("global.toml:")
    assert policy.source_of(None, "no_such_setting") == "global.toml (default)"


def test_every_routing_rule_has_words():
    assert set(WHY) == set(Rule)


def test_render_puts_a_hold_first_with_its_release_and_what_the_gate_found():
    explanation = {
        "to": US_MOBILE,
        "from": None,
        "messaging_service_sid": "MG1",
        "decided_at": "2026-12-02T02:30:00Z",
        "policy_revision": "abc",
        "outcome": {
            "action": "hold",
            "at": "2026-12-02T13:00:00Z",
            "code": None,
            "message": "outside 08:00-21:00",
            "gate": "quiet_hours",
        },
        "route": {
            "verdict": "pass",
            "sender": "+12125550100",
            "sender_sid": "PN1",
            "kind": "long_code",
            "provider": "twilio",
            "rule": "country",
            "reason": "a number of the recipient's country",
            "source": "Twilio's sender selection order (gateway/routing/selection.py)",
            "code": None,
        },
        "gates": [
            {
                "gate": "quiet_hours",
                "verdict": "hold",
                "code": None,
                "reason": "outside 08:00-21:00",
                "source": "countries/US.toml:20",
                "local_time": "2026-12-01 21:30 America/New_York (Tue)",
                "window": "US: Mon-Sun 08:00-21:00",
                "holiday": None,
            }
        ],
        "encoding": {"encoding": "GSM-7", "segments": 1, "smart_encoded": True, "source": "service MG1: SmartEncoding"},
    }
    assert render(explanation).splitlines()[1:] == [
        "outcome: held until 2026-12-02T13:00:00Z by quiet_hours: outside 08:00-21:00",
        "route: +12125550100 (PN1, long_code, twilio) by rule country: a number of the recipient's country",
        "  source: Twilio's sender selection order (gateway/routing/selection.py)",
        "gates:",
        "  quiet_hours  hold: outside 08:00-21:00",
        "               source: countries/US.toml:20",
        "               local_time: 2026-12-01 21:30 America/New_York (Tue)",
        "               window: US: Mon-Sun 08:00-21:00",
        "encoding: GSM-7, 1 segment (smart encoding on: service MG1: SmartEncoding)",
    ]
