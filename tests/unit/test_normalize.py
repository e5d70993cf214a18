"""Normalization: the shapes people really type a keyword in."""

import string

from hypothesis import given
from hypothesis import strategies as st

from gateway.policy.normalize import fold_diacritics, is_unspaced_script, normalize


def test_case_and_surrounding_whitespace_are_ignored():
    """ ' sToP \\n' reads as 'stop'."""
    assert normalize(" sToP \n") == "stop"


def test_punctuation_and_emoji_become_separators():
    """'STOP!!! 🛑' and '¡Alto!' lose their decoration."""
    assert normalize("STOP!!! 🛑") == "stop"
    assert normalize("¡Alto!") == "alto"


def test_fullwidth_letters_are_unified_by_nfkc():
    """Fullwidth 'ＳＴＯＰ' from a Japanese keyboard equals STOP."""
    assert normalize("ＳＴＯＰ") == "stop"


def test_inner_whitespace_runs_collapse_and_hyphens_split_words():
    """'OPT   OUT' and 'opt-out' both read as 'opt out'."""
    assert normalize("OPT   OUT") == "opt out"
    assert normalize("opt-out") == "opt out"


def test_emoji_with_skin_tone_and_variation_selector_vanish():
    """'👍🏽 STOP ✋️' keeps only the word."""
    assert normalize("👍🏽 STOP ✋️") == "stop"


def test_diacritics_are_kept_by_normalize_and_dropped_by_fold():
    """ARRÊT stays accented until folding, which the language's policy must allow."""
    assert normalize("ARRÊT") == "arrêt"
    assert fold_diacritics(normalize("ARRÊT")) == "arret"


def test_devanagari_vowel_signs_survive_normalization():
    """Hindi 'रोकें' keeps its combining vowel signs: they are letters' parts, not decoration."""
    assert normalize("रोकें") == "रोकें"


def test_japanese_counts_as_an_unspaced_script_and_french_does_not():
    assert is_unspaced_script("配信停止")
    assert not is_unspaced_script("arrêt")


decoration = st.text(alphabet=string.punctuation + " \t\n" + "🛑✋👍🏽️", max_size=6)


@given(prefix=decoration, suffix=decoration, flips=st.lists(st.booleans(), min_size=4, max_size=4))
def test_any_case_padding_punctuation_or_emoji_around_a_keyword_normalizes_to_it(prefix, suffix, flips):
    """Whatever surrounds STOP, and in whatever case, it normalizes to the keyword alone."""
    word = "".join(c.upper() if up else c.lower() for c, up in zip("stop", flips, strict=True))
    assert normalize(prefix + word + suffix) == "stop"


def test_letters_with_built_in_accents_fold_too():
    """Turkish dotless ı, Polish ł and Danish æ have no combining mark to drop."""
    assert fold_diacritics("yardım") == fold_diacritics(normalize("YARDIM")) == "yardim"
    assert fold_diacritics("wysyłaj") == "wysylaj"
    assert fold_diacritics("hjælp") == "hjaelp"
