"""Segment counting must agree with Twilio's published segment calculator.

Expected values come from the calculator's rules (TwilioDevEd/message-segment-calculator,
src/libs/*.ts) and, where marked, from its own test vectors (tests/index.test.js).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.encoding import (
    GSM7_ALL,
    GSM7_EXTENSION,
    SMART_ENCODING_MAP,
    _segments_by_walk,
    is_gsm7,
    segment,
    smart_encode,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "segments.json"
EMOJI = "\U0001f600"  # one surrogate pair: 2 UTF-16 units


# --- GSM-7 boundaries --------------------------------------------------------------


def test_160_gsm_chars_fit_one_segment() -> None:
    """160 GSM-7 characters are exactly one segment."""
    assert (segment("a" * 160).encoding, segment("a" * 160).segments) == ("GSM-7", 1)


def test_161_gsm_chars_need_two_segments() -> None:
    """The 161st GSM-7 character forces concatenation into two segments."""
    assert segment("a" * 161).segments == 2


def test_306_gsm_chars_fill_two_concatenated_segments() -> None:
    """Concatenated GSM-7 parts hold 153 septets, so 306 characters are two parts."""
    assert segment("a" * 306).segments == 2


def test_307_gsm_chars_need_three_segments() -> None:
    """The 307th GSM-7 character opens a third 153-septet part."""
    assert segment("a" * 307).segments == 3


# --- UCS-2 boundaries --------------------------------------------------------------


def test_70_ucs2_chars_fit_one_segment() -> None:
    """70 UCS-2 characters are exactly one segment."""
    result = segment("ж" * 70)
    assert (result.encoding, result.segments) == ("UCS-2", 1)


def test_71_ucs2_chars_need_two_segments() -> None:
    """The 71st UCS-2 character forces concatenation into two segments."""
    assert segment("ж" * 71).segments == 2


def test_134_ucs2_chars_fill_two_concatenated_segments() -> None:
    """Concatenated UCS-2 parts hold 67 units, so 134 characters are two parts."""
    assert segment("ж" * 134).segments == 2


def test_135_ucs2_chars_need_three_segments() -> None:
    """The 135th UCS-2 character opens a third 67-unit part."""
    assert segment("ж" * 135).segments == 3


# --- extension characters and surrogate pairs ---------------------------------------


@pytest.mark.parametrize("char", ["€", "{", "["])
def test_extension_char_costs_two_septets(char: str) -> None:
    """A GSM-7 extension character counts as two septets toward the 160 limit."""
    assert segment(char + "a" * 158).segments == 1
    assert segment(char + "a" * 158).characters == 160
    assert segment(char + "a" * 159).segments == 2


def test_extension_char_straddling_153_moves_whole_to_next_segment() -> None:
    """An escape pair that would straddle septet 153 moves whole, costing an extra part."""
    text = "a" * 152 + "€" + "b" * 152  # 306 septets: arithmetic alone would say 2
    assert segment(text).segments == 3


def test_emoji_at_67_boundary_is_not_split() -> None:
    """A surrogate pair that would straddle unit 67 moves whole to the next part."""
    text = "a" * 66 + EMOJI + "b" * 66  # 134 units: arithmetic alone would say 2
    assert segment(text).segments == 3


def test_single_non_gsm_char_forces_ucs2() -> None:
    """One character outside the GSM-7 table makes the whole message UCS-2."""
    result = segment("a" * 100 + "ç")
    assert (result.encoding, result.segments) == ("UCS-2", 2)


# --- smart encoding ------------------------------------------------------------------


def test_smart_encoding_replaces_typographic_punctuation() -> None:
    """Curly quotes, em dash, ellipsis and NBSP become GSM look-alikes (NBSP as two spaces)."""
    text = "\u201cHi\u201d \u2014 it\u2019s\u2026\u00a0ok"
    assert smart_encode(text) == '"Hi" - it\'s...  ok'


def test_smart_encoding_makes_message_gsm7() -> None:
    """After smart encoding, typographic punctuation no longer forces UCS-2."""
    text = "\u201cHi\u201d \u2014 it\u2019s\u2026\u00a0ok"
    assert segment(text).encoding == "UCS-2"
    assert segment(text, smart=True).encoding == "GSM-7"


def test_smart_encoding_leaves_emoji_and_hangul_alone() -> None:
    """Characters with no look-alike (emoji, Hangul) are kept and keep the text UCS-2."""
    text = "수신거부 " + EMOJI
    assert smart_encode(text) == text
    assert segment(text, smart=True).encoding == "UCS-2"


def test_smart_encoding_map_matches_calculator_size() -> None:
    """The replacement table has the calculator's 270 entries."""
    assert len(SMART_ENCODING_MAP) == 270


def test_smart_encoding_reproduces_calculator_quirks() -> None:
    """TAB becomes seven spaces and the single angle quotes map inverted, as in the calculator."""
    assert smart_encode("\t") == " " * 7
    assert smart_encode("\u2039\u203a") == "><"
    assert smart_encode("\u2017") == "_"


def test_smart_encoding_can_increase_segments() -> None:
    """Expanding replacements (ellipsis to three dots) can cost more parts than UCS-2 did."""
    text = "\u2026" * 54
    assert segment(text).segments == 1
    assert segment(text, smart=True).segments == 2


# --- GSM-7 table traps ---------------------------------------------------------------


@pytest.mark.parametrize("char", ["@", "$", "_", "£", "ñ", "ü"])
def test_gsm_basic_chars(char: str) -> None:
    """These look non-ASCII or special but are single septets in the GSM-7 basic table."""
    assert is_gsm7(char)
    assert char not in GSM7_EXTENSION
    assert segment(char * 160).segments == 1


def test_grave_accent_is_not_gsm() -> None:
    """The grave accent is not in the GSM-7 table, so it forces UCS-2."""
    assert not is_gsm7("`")
    assert segment("`").encoding == "UCS-2"


def test_c_cedilla_only_capital_is_gsm() -> None:
    """Capital C-cedilla is GSM-7 but the small letter is not."""
    assert is_gsm7("Ç")
    assert not is_gsm7("ç")


def test_empty_text_is_one_gsm7_segment() -> None:
    """The calculator reports an empty body as one GSM-7 segment of zero characters."""
    assert segment("") == segment("", smart=True)
    result = segment("")
    assert (result.encoding, result.segments, result.characters, result.text) == (
        "GSM-7",
        1,
        0,
        "",
    )


def test_crlf_counts_as_two_characters() -> None:
    """The calculator splits CR LF back into two characters."""
    assert segment("a\r\nb").characters == 4


def test_combining_marks_form_one_character_in_ucs2() -> None:
    """A letter with three combining accents is one character (calculator test vector)."""
    text = "e\u0301\u0301\u0301"
    assert segment(text).characters == 1
    assert segment(text + "a" * 66).segments == 1
    assert segment(text + "a" * 67).segments == 2


def test_zwj_emoji_sequence_moves_as_one_block() -> None:
    """A ZWJ emoji sequence (rainbow flag, 6 units) is never split (calculator test vector)."""
    flag = "\U0001f3f3\ufe0f\u200d\U0001f308"
    assert segment(flag + "1" * 64).segments == 1
    assert segment(flag + "1" * 64).characters == 65
    assert segment(flag + "1" * 65).segments == 2


# --- data-driven cases ----------------------------------------------------------------


def _cases() -> list[dict]:
    return json.loads(DATA.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.get("note", c["text"][:30]))
def test_segments_data_cases(case: dict) -> None:
    """Each recorded text gets the calculator's encoding and segment count."""
    result = segment(case["text"], smart=case["smart"])
    assert result.encoding == case["encoding"]
    assert result.segments == case["segments"]
    if "characters" in case:
        assert result.characters == case["characters"]


# --- properties -------------------------------------------------------------------------

_ALPHABET = st.one_of(
    st.sampled_from(sorted(GSM7_ALL)),
    st.sampled_from(sorted(GSM7_EXTENSION)),
    st.sampled_from([chr(k) for k in SMART_ENCODING_MAP]),
    st.sampled_from(
        [
            "ж",
            "ç",
            "é",
            "\u0301",
            "\u200d",
            EMOJI,
            "\U0001f44d",
            "\U0001f3fd",
            "\U0001f1ee",
            "\u2640",
            "\ufe0f",
            "\u1100",
            "\u1161",
            "\u11a8",
            "가",
            "\u093f",
            "\r",
            "\n",
        ]
    ),
    st.characters(),
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=400), st.booleans())
def test_fast_path_matches_reference_walk(text: str, smart: bool) -> None:
    """For any text, the arithmetic fast path gives the same count as the per-item walk."""
    sent = smart_encode(text) if smart else text
    assert segment(text, smart=smart).segments == _segments_by_walk(sent)


_EXPANDING = {k for k, v in SMART_ENCODING_MAP.items() if len(v) > 1}
_NON_EXPANDING = st.one_of(
    st.sampled_from(sorted(GSM7_ALL)),
    st.sampled_from([chr(k) for k in SMART_ENCODING_MAP if k not in _EXPANDING]),
    st.characters().filter(lambda c: ord(c) not in _EXPANDING),
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_NON_EXPANDING, max_size=400))
def test_smart_encoding_never_adds_segments_without_expanding_replacements(text: str) -> None:
    """Smart encoding never costs more parts unless a one-to-many replacement is used."""
    assert segment(text, smart=True).segments <= segment(text).segments
