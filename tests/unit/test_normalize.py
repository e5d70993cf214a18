"""Normalization: the shapes people really type a keyword in."""

import string

from hypothesis import given
from hypothesis import strategies as st

from gateway.policy.normalize import fold_diacritics, is_unspaced_script, latin_lookalikes, normalize


def test_case_and_surrounding_whitespace_are_ignored():
    """' sToP \\n' reads as 'stop'."""
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


def test_a_zero_width_space_inside_a_word_is_dropped():
    """'S\u200bTOP' (pasted from a web page that breaks words invisibly) reads STOP, not 's top'."""
    assert normalize("S\u200bTOP") == "stop"


def test_a_soft_hyphen_inside_a_word_is_dropped():
    """'ST\u00adOP' (a word-processor's hyphenation point) reads STOP."""
    assert normalize("ST\u00adOP") == "stop"


def test_joiners_word_joiner_and_byte_order_mark_are_dropped():
    """Zero-width joiner and non-joiner, the word joiner and a leading BOM leave the letters alone."""
    assert normalize("\ufeffS\u200dT\u200cO\u2060P") == "stop"


def test_direction_marks_around_an_arabic_keyword_are_dropped():
    """A phone's right-to-left mark around 'إلغاء' (cancel) leaves the word as the policy writes it."""
    assert normalize("\u200fإلغاء\u200f") == normalize("إلغاء") == "إلغاء"


def test_a_persian_zero_width_non_joiner_is_dropped_on_both_sides():
    """'نمی\u200cخواهم' is normalized the same with or without its ZWNJ, so a keyword written either way matches."""
    assert normalize("نمی\u200cخواهم") == normalize("نمیخواهم")


def test_cyrillic_capitals_that_look_latin_read_as_latin():
    """'ЅТОР' typed on a Cyrillic layout (Ѕ, Т, О, Р) reads STOP."""
    assert normalize(latin_lookalikes("ЅТОР")) == "stop"


def test_a_greek_omicron_inside_stop_reads_as_o():
    """'STΟP' and 'stοp' with Greek omicrons read STOP."""
    assert normalize(latin_lookalikes("STΟP")) == normalize(latin_lookalikes("stοp")) == "stop"


def test_a_capital_that_looks_like_a_stroke_reads_as_i():
    """Greek Ι and Cyrillic І in 'QUΙT', 'QUІT' read I (UTS #39's prototype `l` is for small letters)."""
    assert normalize(latin_lookalikes("QUΙT")) == normalize(latin_lookalikes("QUІT")) == "quit"


def test_russian_words_keep_their_own_letters():
    """СТОП has two letters with no Latin look-alike (Т's small form aside): it never becomes a Latin word."""
    assert normalize(latin_lookalikes("стоп")) == "cтoп"
    assert normalize(latin_lookalikes("СТОП")) == "ctoп"


def test_latin_text_is_unchanged_by_lookalikes():
    """Accented Latin letters are Latin: 'Arrêt' stays 'Arrêt'."""
    assert latin_lookalikes("Arrêt") == "Arrêt"
