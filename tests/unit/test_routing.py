"""Sender selection must follow Twilio's documented order (twilio-and-rules.md section 6.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from gateway.routing import (
    Candidate,
    Recipient,
    Route,
    Rule,
    SenderKind,
    Unroutable,
    area_code,
    choose_long_code,
    choose_sender,
    overlays,
)
from gateway.routing.selection import _OVERLAYS, _parse_overlays


def _example(region: str, kind: int = PhoneNumberType.MOBILE) -> str:
    number = phonenumbers.example_number_for_type(region, kind)
    assert number is not None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _us(area: str, line: str = "0100") -> str:
    """A fictional 555-01xx US number in the given area code, in E.164."""
    return phonenumbers.format_number(phonenumbers.parse(f"({area}) 555-{line}", "US"), PhoneNumberFormat.E164)


US_MOBILE = _example("US")  # +12015550123, area code 201
US_TOLL_FREE = _example("US", PhoneNumberType.TOLL_FREE)
CA_MOBILE = _example("CA")  # +15062345678, area code 506
CA_TOLL_FREE = _example("CA", PhoneNumberType.TOLL_FREE)
GB_MOBILE = _example("GB")
FR_MOBILE = _example("FR")

# Senders.  Sids are chosen so that, without the rule under test, the Scaler's sid
# tie-break would pick a different sender.
US_201 = Candidate("PN0201", US_MOBILE, SenderKind.LONG_CODE, "US", "201")
US_212 = Candidate("PN0212", _us("212"), SenderKind.LONG_CODE, "US", "212")
US_646 = Candidate("PN0646", _us("646"), SenderKind.LONG_CODE, "US", "646")
US_TF = Candidate("PN0000", US_TOLL_FREE, SenderKind.TOLL_FREE, "US", "800")
US_SC = Candidate("SC0US", "12345", SenderKind.SHORT_CODE, "US")
CA_LONG = Candidate("PN0001", CA_MOBILE, SenderKind.LONG_CODE, "CA", "506")
CA_TF = Candidate("PN0999", CA_TOLL_FREE, SenderKind.TOLL_FREE, "CA", "800")
GB_NUMBER = Candidate("PN0044", GB_MOBILE, SenderKind.MOBILE, "GB")
GB_SC = Candidate("SC0GB", "60006", SenderKind.SHORT_CODE, "GB")
FR_NUMBER = Candidate("PN0033", FR_MOBILE, SenderKind.MOBILE, "FR")
ALPHA = Candidate("AI0001", "ACME", SenderKind.ALPHA, None)
WA_US = Candidate("PN0WA1", f"whatsapp:{US_MOBILE}", SenderKind.WHATSAPP, "US", "201")
WA_GB = Candidate("PN0WA2", f"whatsapp:{GB_MOBILE}", SenderKind.WHATSAPP, "GB")

# Recipients.
TO_US_201 = Recipient(_us("201", "0199"), "US", "201")
TO_US_212 = Recipient(_us("212", "0199"), "US", "212")
TO_US_907 = Recipient(_us("907", "0199"), "US", "907")
TO_CA = Recipient(CA_MOBILE, "CA", "506")
TO_GB = Recipient(GB_MOBILE, "GB")
TO_FR = Recipient(FR_MOBILE, "FR")
TO_WA_GB = Recipient(f"whatsapp:{GB_MOBILE}", "GB")
TO_WA_FR = Recipient(f"whatsapp:{FR_MOBILE}", "FR")


@dataclass(frozen=True)
class Case:
    pool: tuple[Candidate, ...]
    to: Recipient
    sender: Candidate | None  # None: Unroutable
    rule: Rule | None = None
    new_sticky: bool = False
    options: dict[str, Any] = field(default_factory=dict)


STICKY = {"sticky_sender": True}
CASES = {
    # Channel
    "WhatsApp only to whatsapp: recipients": Case((US_201, WA_GB), TO_WA_GB, WA_GB, Rule.WHATSAPP),
    "WhatsApp prefers a sender of the recipient's country": Case((WA_US, WA_GB), TO_WA_GB, WA_GB, Rule.WHATSAPP),
    "WhatsApp falls back to any WhatsApp sender": Case((WA_GB, FR_NUMBER), TO_WA_FR, WA_GB, Rule.WHATSAPP),
    "WhatsApp recipient without a WhatsApp sender → Unroutable": Case((FR_NUMBER,), TO_WA_FR, None),
    "SMS recipient never gets a WhatsApp sender": Case((WA_US, US_201), TO_US_201, US_201, Rule.COUNTRY),
    "SMS recipient with only WhatsApp senders → Unroutable": Case((WA_US,), TO_US_201, None),
    # Type priority
    "short code of the recipient's country beats long codes": Case(
        (US_201, US_SC), TO_US_201, US_SC, Rule.SHORT_CODE, options={"alpha_allowed": False}
    ),
    "alpha where allowed and no local short code": Case((GB_NUMBER, ALPHA), TO_GB, ALPHA, Rule.ALPHA),
    "alpha skipped where not allowed (US)": Case(
        (ALPHA, US_201), TO_US_201, US_201, Rule.COUNTRY, options={"alpha_allowed": False}
    ),
    "local short code beats alpha": Case((ALPHA, GB_SC, GB_NUMBER), TO_GB, GB_SC, Rule.SHORT_CODE),
    "short code of another country is not used": Case((US_SC, GB_NUMBER), TO_GB, GB_NUMBER, Rule.COUNTRY),
    # Area Code Geomatch
    "area code match": Case((US_201, US_212), TO_US_212, US_212, Rule.AREA_CODE, options={"area_code_geomatch": True}),
    "overlay match (212 → 646)": Case(
        (US_201, US_646), TO_US_212, US_646, Rule.OVERLAY, options={"area_code_geomatch": True}
    ),
    "no area code or overlay match → country number": Case(
        (US_212, US_201), TO_US_907, US_201, Rule.COUNTRY, options={"area_code_geomatch": True}
    ),
    "no geomatch → country number": Case((US_201, US_646), TO_US_212, US_201, Rule.COUNTRY),
    # Country Code Geomatch
    "CA prefers toll-free": Case((CA_LONG, CA_TF), TO_CA, CA_TF, Rule.COUNTRY),
    "elsewhere long code before toll-free": Case((US_TF, US_201), TO_US_201, US_201, Rule.COUNTRY),
    "no local number → US fallback": Case((GB_NUMBER, US_201), TO_FR, US_201, Rule.US_FALLBACK),
    "no US number → any other number": Case((GB_NUMBER,), TO_FR, GB_NUMBER, Rule.ANY_NUMBER),
    "any other number, long codes before toll-free": Case((CA_TF, GB_NUMBER), TO_FR, GB_NUMBER, Rule.ANY_NUMBER),
    "another country's short code is no fallback → Unroutable": Case((GB_SC,), TO_FR, None),
    "no number at all → Unroutable": Case((ALPHA,), TO_FR, None, options={"alpha_allowed": False}),
    # Sticky Sender
    "sticky kept": Case((US_201, US_212), TO_US_201, US_212, Rule.STICKY, False, {**STICKY, "sticky": US_212.sid}),
    "sticky dropped when sender left": Case(
        (US_201,), TO_US_201, US_201, Rule.COUNTRY, True, {**STICKY, "sticky": US_212.sid}
    ),
    "sticky on a local number kept when a local short code is added": Case(
        (US_201, US_SC), TO_US_201, US_201, Rule.STICKY, False, {**STICKY, "sticky": US_201.sid}
    ),
    "sticky alpha kept when a local short code is added": Case(
        (ALPHA, GB_SC), TO_GB, ALPHA, Rule.STICKY, False, {**STICKY, "sticky": ALPHA.sid}
    ),
    "sticky on a foreign number moved to a newly added local number": Case(
        (US_201, FR_NUMBER), TO_FR, FR_NUMBER, Rule.COUNTRY, True, {**STICKY, "sticky": US_201.sid}
    ),
    "sticky on a foreign number moved to a newly added local short code": Case(
        (US_201, GB_SC, GB_NUMBER), TO_GB, GB_SC, Rule.SHORT_CODE, True, {**STICKY, "sticky": US_201.sid}
    ),
    "sticky on a foreign number kept when a third country's number is added": Case(
        (GB_NUMBER, US_201), TO_FR, GB_NUMBER, Rule.STICKY, False, {**STICKY, "sticky": GB_NUMBER.sid}
    ),
    "sticky kept when an alpha is added": Case(
        (GB_NUMBER, ALPHA), TO_GB, GB_NUMBER, Rule.STICKY, False, {**STICKY, "sticky": GB_NUMBER.sid}
    ),
    "sticky dropped when alpha no longer allowed": Case(
        (ALPHA, GB_NUMBER),
        TO_GB,
        GB_NUMBER,
        Rule.COUNTRY,
        True,
        {**STICKY, "sticky": ALPHA.sid, "alpha_allowed": False},
    ),
    "sticky short code of another country dropped": Case(
        (US_SC, US_201), TO_GB, US_201, Rule.US_FALLBACK, True, {**STICKY, "sticky": US_SC.sid}
    ),
    "sticky WhatsApp sender not used for SMS": Case(
        (WA_US, US_212), TO_US_201, US_212, Rule.COUNTRY, True, {**STICKY, "sticky": WA_US.sid}
    ),
    "sticky on without a mapping → new_sticky True": Case((US_201,), TO_US_201, US_201, Rule.COUNTRY, True, STICKY),
    "sticky off → new_sticky False": Case(
        (US_201, US_212), TO_US_201, US_201, Rule.COUNTRY, False, {"sticky": US_212.sid}
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_documented_rule(case: Case) -> None:
    """Each documented selection rule picks the sender it names, or fails with Unroutable."""
    if case.sender is None:
        with pytest.raises(Unroutable):
            choose_sender(case.pool, case.to, **case.options)
    else:
        assert choose_sender(case.pool, case.to, **case.options) == Route(case.sender, case.rule, case.new_sticky)


def test_no_sender_message_names_the_country() -> None:
    """The 21703 message says which country the pool cannot reach."""
    with pytest.raises(Unroutable, match="can reach GB numbers"):
        choose_sender([US_SC], TO_GB)


def test_short_code_reroute_passes_over_short_codes_and_alpha_senders() -> None:
    """A reroute goes to the pool's phone numbers only, by the same tiers, and writes no sticky mapping."""
    route = choose_long_code([US_SC, ALPHA, US_212, US_201], TO_US_201, area_code_geomatch=True)
    assert route == Route(US_201, Rule.AREA_CODE, new_sticky=False)


def test_short_code_reroute_without_a_phone_number_in_the_pool_is_unroutable() -> None:
    """A pool of a short code and an alpha sender has nothing to reroute to."""
    with pytest.raises(Unroutable):
        choose_long_code([US_SC, ALPHA], TO_US_201)


def test_area_code_is_read_from_addresses_when_not_given() -> None:
    """Area Code Geomatch falls back to the area code in the E.164 addresses."""
    pool = [
        Candidate("PN1", _us("201"), SenderKind.LONG_CODE, "US"),
        Candidate("PN2", _us("212"), SenderKind.LONG_CODE, "US"),
    ]
    route = choose_sender(pool, Recipient(_us("212", "0199"), "US"), area_code_geomatch=True)
    assert (route.sender.sid, route.rule) == ("PN2", Rule.AREA_CODE)


def test_recipient_channel() -> None:
    """A whatsapp: address is the WhatsApp channel, a bare number is SMS."""
    assert (TO_WA_GB.channel, TO_GB.channel) == ("whatsapp", "sms")


# --- Scaler ------------------------------------------------------------------------


def test_scaler_picks_least_loaded() -> None:
    """Within a tier the sender with the fewest in-flight messages wins."""
    route = choose_sender([US_201, US_212], TO_US_201, load={US_201.sid: 5, US_212.sid: 2})
    assert route.sender == US_212


def test_scaler_breaks_ties_by_sid() -> None:
    """Equal load goes to the lowest sid, so selection is deterministic."""
    route = choose_sender([US_212, US_201], TO_US_201, load={US_201.sid: 3, US_212.sid: 3})
    assert route.sender == US_201


def test_scaler_counts_missing_sid_as_idle() -> None:
    """A sender absent from the load map counts as zero load."""
    route = choose_sender([US_201, US_212], TO_US_201, load={US_201.sid: 1})
    assert route.sender == US_212


def test_scaler_does_not_cross_tiers() -> None:
    """A busy local short code still beats an idle long code."""
    route = choose_sender([US_SC, US_201], TO_US_201, alpha_allowed=False, load={US_SC.sid: 1000})
    assert route.sender == US_SC


@given(st.permutations([US_201, US_212, US_646, US_TF, US_SC, GB_NUMBER, ALPHA, WA_US]))
def test_pool_order_does_not_matter(pool: list[Candidate]) -> None:
    """The choice depends on the pool's members, never on their order."""
    assert choose_sender(pool, TO_US_212, alpha_allowed=False).sender == US_SC
    assert choose_sender(pool, TO_FR, alpha_allowed=False).sender == US_201


# --- NANP data ---------------------------------------------------------------------


def test_area_code_of_us_number() -> None:
    """The area code is the three digits after +1."""
    assert area_code(_us("212")) == "212"


def test_area_code_of_canadian_number() -> None:
    """Canadian numbers share the NANP format."""
    assert area_code(CA_MOBILE) == "506"


@pytest.mark.parametrize("address", [GB_MOBILE, "+1212555", "12345", "ACME", f"whatsapp:{US_MOBILE}"])
def test_area_code_of_other_addresses_is_none(address: str) -> None:
    """Anything but a well-formed +1 E.164 number has no area code."""
    assert area_code(address) is None


def test_overlays_of_manhattan() -> None:
    """212 overlays with 646, 332 and 917, not with itself."""
    assert overlays("212") == {"646", "332", "917"}


def test_overlays_union_for_code_in_two_complexes() -> None:
    """917 overlays both Manhattan and the outer boroughs, so it gets both complexes."""
    assert overlays("917") == {"212", "646", "332", "718", "347", "929"}


def test_overlays_of_canadian_code() -> None:
    """Toronto's 416 overlays with 647, 437 and 942."""
    assert overlays("416") == {"647", "437", "942"}


def test_overlays_of_code_without_complex_is_empty() -> None:
    """Alaska's single area code 907 has no overlay."""
    assert overlays("907") == frozenset()


def test_overlays_are_symmetric() -> None:
    """If b overlays a then a overlays b."""
    assert all(code in overlays(other) for code, others in _OVERLAYS.items() for other in others)


@pytest.mark.parametrize(
    "text",
    [
        'groups = [["212", "64"]]',
        'groups = [["212", "146"]]',
        'groups = [["212"]]',
        'groups = [["212", "212"]]',
        "groups = [[212, 646]]",
        "other = []",
    ],
)
def test_bad_overlay_data_is_rejected(text: str) -> None:
    """A malformed overlay file fails at load, naming the problem."""
    with pytest.raises(ValueError, match="nanp_overlays.toml"):
        _parse_overlays(text)
