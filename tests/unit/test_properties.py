"""Properties of the pure core, over generated inputs: encoding and segments, routing, pacing,
the keyword matcher.  Each states a promise of the module's contract that no example list covers."""

from __future__ import annotations

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.encoding import (
    GSM7,
    GSM7_ALL,
    GSM7_EXTENSION,
    GSM7_MULTI,
    GSM7_SINGLE,
    UCS2,
    UCS2_MULTI,
    UCS2_SINGLE,
    segment,
)
from gateway.pacing import SlidingWindow, backoff
from gateway.policy.matcher import Matcher
from gateway.routing import Candidate, Recipient, SenderKind, Unroutable, area_code, choose_sender

GSM_TEXT = st.text(alphabet=sorted(GSM7_ALL), max_size=700)
ANY_TEXT = st.text(max_size=700)


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --- encoding ------------------------------------------------------------------------


@given(GSM_TEXT)
def test_gsm7_text_is_never_sent_as_ucs2(text: str) -> None:
    """Text made only of GSM-7 characters (extension table included) goes out as GSM-7."""
    assert segment(text).encoding == GSM7


@given(GSM_TEXT, st.sampled_from("😀ç中Жł"), st.integers(0, 700))
def test_one_character_outside_gsm7_makes_the_whole_message_ucs2(text: str, outside: str, at: int) -> None:
    """A single character outside both GSM-7 tables switches the message to UCS-2."""
    at = min(at, len(text))
    assert segment(text[:at] + outside + text[at:]).encoding == UCS2


@given(GSM_TEXT)
def test_gsm7_segments_hold_every_septet_and_none_is_wasted_beyond_a_split(text: str) -> None:
    """The segments' capacity bounds the septets (an extension character counts 2); one segment
    fewer could not hold them, even losing one septet per split to an escape pair kept whole."""
    result = segment(text)
    septets = len(text) + sum(1 for char in text if char in GSM7_EXTENSION)
    assert result.characters == septets
    capacity = GSM7_SINGLE if result.segments == 1 else result.segments * GSM7_MULTI
    assert septets <= capacity
    if result.segments > 1:
        assert septets > GSM7_SINGLE
        assert septets > (result.segments - 1) * (GSM7_MULTI - 1)


@given(ANY_TEXT.filter(lambda text: segment(text).encoding == UCS2))
def test_ucs2_segments_hold_every_code_unit(text: str) -> None:
    """UCS-2 segments hold 70 UTF-16 units alone, 67 each when split; one fewer segment could not hold
    the text, even when a split keeps a surrogate pair or a grapheme whole."""
    result = segment(text)
    units = _utf16_units(text)
    capacity = UCS2_SINGLE if result.segments == 1 else result.segments * UCS2_MULTI
    assert units <= capacity
    if result.segments > 1:
        assert units > UCS2_SINGLE


@given(ANY_TEXT, st.booleans())
def test_every_text_has_at_least_one_segment_and_no_more_than_its_units(text: str, smart: bool) -> None:
    """Segments never drop to zero and never exceed one per code unit (a bound any split respects)."""
    result = segment(text, smart=smart)
    assert 1 <= result.segments <= max(1, _utf16_units(result.text))


# --- routing -------------------------------------------------------------------------

COUNTRIES = ("US", "CA", "GB", "FR", "DE", "BR")


def _number(region: str, kind: int = phonenumbers.PhoneNumberType.MOBILE) -> str:
    example = phonenumbers.example_number_for_type(region, kind)
    assert example is not None
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


@st.composite
def candidates(draw: st.DrawFn) -> Candidate:
    index = draw(st.integers(0, 10**6))
    kind = draw(st.sampled_from(list(SenderKind)))
    country = draw(st.sampled_from(COUNTRIES))
    if kind is SenderKind.ALPHA:
        return Candidate(f"AI{index}", "ACME", kind, None)
    if kind is SenderKind.SHORT_CODE:
        return Candidate(f"SC{index}", str(10000 + index % 90000), kind, country)
    number = _number(country)
    address = f"whatsapp:{number}" if kind is SenderKind.WHATSAPP else number
    return Candidate(f"PN{index}", address, kind, country, area_code(number))


@st.composite
def recipients(draw: st.DrawFn) -> Recipient:
    country = draw(st.sampled_from(COUNTRIES))
    number = _number(country)
    address = f"whatsapp:{number}" if draw(st.booleans()) else number
    return Recipient(address, country, area_code(number))


@settings(max_examples=300)
@given(
    st.lists(candidates(), max_size=8, unique_by=lambda c: c.sid),
    recipients(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_routing_picks_a_member_of_the_pool_on_the_recipients_channel_or_raises_unroutable(
    pool: list[Candidate], recipient: Recipient, alpha_allowed: bool, geomatch: bool, sticky_on: bool
) -> None:
    """Whatever the pool, the chosen sender is one of its members, on the recipient's channel, and a
    short code never crosses its country; when nothing fits, Unroutable says so."""
    sticky = pool[0].sid if pool and sticky_on else None
    try:
        route = choose_sender(
            pool,
            recipient,
            sticky=sticky,
            sticky_sender=sticky_on,
            area_code_geomatch=geomatch,
            alpha_allowed=alpha_allowed,
        )
    except Unroutable:
        usable = [c for c in pool if (c.kind is SenderKind.WHATSAPP) == (recipient.channel == "whatsapp")]
        assert not any(
            c.kind in (SenderKind.LONG_CODE, SenderKind.MOBILE, SenderKind.TOLL_FREE, SenderKind.WHATSAPP)
            for c in usable
        ), "a number can always reach the recipient"
        return
    assert route.sender in pool
    assert (route.sender.kind is SenderKind.WHATSAPP) == (recipient.channel == "whatsapp")
    if route.sender.kind is SenderKind.SHORT_CODE:
        assert route.sender.country == recipient.country
    if route.sender.kind is SenderKind.ALPHA:
        assert alpha_allowed


# --- pacing --------------------------------------------------------------------------


@given(
    st.integers(1, 100),
    st.lists(st.tuples(st.integers(1, 12), st.floats(0.0, 0.5), st.floats(0.0, 0.3)), min_size=1, max_size=150),
)
def test_a_sender_never_gets_more_segments_than_its_mps_in_any_one_second_window(
    mps: int, sends: list[tuple[int, float, float]]
) -> None:
    """Sends of any size, started whenever the window says they may after any idle gap and answered after
    any latency, never put more than MPS segments into a second (a longer message goes alone)."""
    window, now, started = SlidingWindow(mps), 0.0, []
    for segments, idle, latency in sends:
        now += idle
        at = window.earliest(now, segments)
        assert at is not None and at >= now  # nothing is in flight between sends here
        now = at
        window.start(segments)
        started.append((now, min(segments, mps)))
        now += latency
        window.finish(now, segments)
    for begin, _ in started:
        in_window = sum(cost for moment, cost in started if begin <= moment < begin + 1.0)
        assert in_window <= mps


@given(st.integers(1, 30), st.floats(0.1, 5.0), st.floats(1.0, 300.0))
def test_backoff_without_retry_after_grows_and_stays_under_the_cap(attempt: int, base: float, cap: float) -> None:
    """Exponential backoff never shrinks from one attempt to the next and never passes its cap."""
    first, second = backoff(attempt, None, base=base, cap=cap), backoff(attempt + 1, None, base=base, cap=cap)
    assert 0 < first <= second <= cap


@given(st.integers(1, 30), st.floats(-10.0, 3600.0))
def test_backoff_waits_what_the_provider_asked_never_less_than_zero(attempt: int, retry_after: float) -> None:
    """A provider's Retry-After is the wait, whatever the attempt; a negative one is no wait."""
    assert backoff(attempt, retry_after) == max(0.0, retry_after)


# --- matcher -------------------------------------------------------------------------

WHITESPACE = st.text(alphabet=" \t\n\r\u00a0\u3000", max_size=4)


@settings(max_examples=300)
@given(data=st.data(), country=st.sampled_from([None, "US", "FR", "DE", "ES", "BR", "JP"]))
def test_a_keyword_means_the_same_in_any_case_with_any_surrounding_whitespace(
    shipped: Matcher, data: st.DataObject, country: str | None
) -> None:
    """Every keyword of the shipped policy matches the same way whatever the case of its ASCII letters,
    the whitespace around it and the whitespace between its words."""
    table = shipped.table(country)
    keyword = data.draw(st.sampled_from(sorted(table.exact)))
    flips = data.draw(st.lists(st.booleans(), min_size=len(keyword), max_size=len(keyword)))
    cased = "".join(
        char.upper() if flip and char.isascii() else char for char, flip in zip(keyword, flips, strict=True)
    )
    gaps = [data.draw(WHITESPACE.filter(bool)) for _ in range(cased.count(" "))]
    words = cased.split(" ")
    spaced = words[0] + "".join(gap + word for gap, word in zip(gaps, words[1:], strict=True))
    variant = data.draw(WHITESPACE) + spaced + data.draw(WHITESPACE)
    assert shipped.match(variant, country) == shipped.match(keyword, country) == table.exact[keyword]
