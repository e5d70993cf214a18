"""Matching and precedence on small, hand-written policies (the shipped ones are tested apart)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.locales import Catalogs
from gateway.policy.loader import load_policies
from gateway.policy.matcher import Matcher
from gateway.policy.model import Found, Kind, Mode
from tests.conftest import MINIMAL_GLOBAL, language_file

FRENCH = language_file("fr", '"ARRET", "ARRÊT", "STOP"', '"COMMENCER"', '"AIDE"')
SPANISH = language_file("es", '"ALTO", "BAJA"', '"INICIO"', '"AYUDA"')
GERMAN = language_file("de", '"STOPP"', '"ANMELDEN"', '"HILFE"')
HINDI = language_file("hi", '"रोकें"', '"शुरू"', '"मदद"', fold=False)
JAPANESE = language_file("ja", '"配信停止"', '"配信再開"', '"ヘルプ"', fold=False)


@pytest.fixture
def matcher(policy_tree):
    def build(files, **kwargs):
        policies, locales = policy_tree(files, **kwargs)
        result = load_policies(policies, Catalogs.load(locales))
        assert result.policy is not None, result.errors
        return Matcher(result.policy)

    return build


@pytest.fixture
def europe(matcher):
    return matcher(
        {
            "languages/fr.toml": FRENCH,
            "languages/es.toml": SPANISH,
            "languages/de.toml": GERMAN,
            "languages/hi.toml": HINDI,
            "languages/ja.toml": JAPANESE,
            "countries/CA.toml": 'country = "CA"\nlanguages = ["en", "fr"]\n',
            "countries/FR.toml": 'country = "FR"\nlanguages = ["fr"]\n\n[fr.help]\nkeywords = ["CONTACT"]\n',
            "countries/DE.toml": 'country = "DE"\nlanguages = ["de"]\n',
            "countries/US.toml": 'country = "US"\nlanguages = ["en", "es"]\nmode = "reasonable"\n',
            "countries/CH.toml": 'country = "CH"\nlanguages = ["de", "fr"]\n',
        }
    )


def test_global_keyword_from_a_country_without_a_file_answers_in_the_global_language(europe):
    """STOP from a number of a country with no policy file is English."""
    match = europe.match("STOP", "GB")
    assert (match.kind, match.keyword, match.language, match.reply) == (Kind.STOP, "STOP", "en", "opt_out")


def test_language_keyword_applies_in_every_country(europe):
    """AYUDA from a US mobile gets the Spanish help reply, as in Twilio's Advanced Opt-Out."""
    match = europe.match("ayuda", "US")
    assert (match.kind, match.language) == (Kind.HELP, "es")


def test_universal_keyword_answers_in_the_country_default_language(europe):
    """STOP from a German mobile is answered in German, though German lists STOPP, not STOP."""
    assert europe.match("STOP", "DE").language == "de"


def test_first_default_language_wins_for_a_shared_keyword(europe):
    """STOP from Canada (en, fr) answers in English: both list it, English comes first."""
    assert europe.match("STOP", "CA").language == "en"


def test_keyword_of_one_default_language_answers_in_that_language(europe):
    """ARRET from Canada answers in French: only French lists it."""
    assert europe.match("ARRET", "CA").language == "fr"


def test_second_default_language_answers_its_own_help_word(europe):
    """AIDE from Switzerland (de, fr) is French help."""
    assert (europe.match("Aide", "CH").kind, europe.match("Aide", "CH").language) == (Kind.HELP, "fr")


def test_country_file_adds_keywords_only_for_its_numbers(europe):
    """CONTACT is help for French numbers and nothing elsewhere."""
    assert europe.match("CONTACT", "FR").kind is Kind.HELP
    assert europe.match("CONTACT", "DE") is None


def test_country_replace_drops_the_language_keywords_for_that_country(matcher):
    """`replace = true` swaps Spanish opt-outs for Mexican numbers only."""
    m = matcher(
        {
            "languages/es.toml": SPANISH,
            "countries/MX.toml": 'country = "MX"\nlanguages = ["es"]\n\n[es.opt_out]\nkeywords = ["CANCELAR"]\nreplace = true\n',
        }
    )
    assert m.match("BAJA", "MX") is None
    assert m.match("CANCELAR", "MX").kind is Kind.STOP
    assert m.match("BAJA", "ES").kind is Kind.STOP


def test_diacritics_fold_where_the_language_allows(europe):
    """ARRÊT and ARRET are the same French keyword, and 'arrêt' typed in lower case too."""
    assert europe.match("arrêt", "FR").keyword == "ARRÊT"
    assert europe.match("ARRET", "FR").keyword == "ARRET"
    assert europe.match("ÀRRÉT", "FR").kind is Kind.STOP


def test_diacritics_do_not_fold_where_the_language_forbids(europe):
    """Hindi keeps its vowel signs: रोक (without ें) is another word."""
    assert europe.match("रोकें", "IN").kind is Kind.STOP
    assert europe.match("रोक", "IN") is None


def test_stopall_is_account_wide_and_stop_is_not(europe):
    assert europe.match("STOPALL", "US").account_wide
    assert not europe.match("STOP", "US").account_wide


def test_multi_word_keyword_matches_with_any_separator(europe):
    """'opt-out', 'Opt  Out.' all match the keyword OPT OUT."""
    assert europe.match("opt-out", "GB").keyword == "OPT OUT"
    assert europe.match("Opt  Out.", "GB").keyword == "OPT OUT"


def test_exact_mode_ignores_keywords_inside_sentences(europe):
    """'Please stop texting me' is not a keyword in exact mode (Twilio's behaviour)."""
    assert europe.match("Please stop texting me", "GB") is None


def test_reasonable_mode_finds_opt_out_keywords_anywhere(europe):
    """In the US (reasonable mode), 'Please stop texting me' opts out."""
    match = europe.match("Please stop texting me", "US")
    assert (match.kind, match.keyword, match.found) == (Kind.STOP, "STOP", Found.EMBEDDED)


def test_reasonable_mode_finds_configured_phrases(europe):
    """'can you remove me from this list' opts out by the phrase REMOVE ME."""
    assert europe.match("can you remove me from this list", "US").keyword == "REMOVE ME"


def test_reasonable_mode_needs_whole_words(europe):
    """'unstoppable' and 'stopwatch' contain STOP but are other words."""
    assert europe.match("this deal is unstoppable", "US") is None
    assert europe.match("my stopwatch broke", "US") is None


def test_reasonable_mode_never_opts_in_from_free_text(europe):
    """'Can we START over tomorrow?' does nothing, even in reasonable mode."""
    assert europe.match("Can we START over tomorrow?", "US") is None
    assert europe.match("I need HELP with my order", "US") is None


def test_reasonable_mode_can_be_asked_for_per_call(europe):
    assert europe.match("please STOP", "GB", Mode.REASONABLE).kind is Kind.STOP
    assert europe.match("please STOP", "US", Mode.EXACT) is None


def test_unspaced_scripts_match_inside_a_sentence_in_reasonable_mode(europe):
    """配信停止してください ('please stop delivery') contains the keyword with no spaces around it."""
    assert europe.match("配信停止してください", "US").keyword == "配信停止"
    assert europe.match("配信停止してください", "JP") is None  # exact mode there


def test_reply_words_name_the_language_own_keywords(europe):
    """A French reply tells people to send ARRET and COMMENCER, words that work."""
    words = europe.table("FR").reply_words("fr")
    assert words == {"stop_word": "ARRET", "start_word": "COMMENCER", "help_word": "AIDE"}


def test_empty_or_decoration_only_message_matches_nothing(europe):
    assert europe.match("", "US") is None
    assert europe.match(" 🛑!! ", "US") is None


ENGLISH_WORDS = st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True)


@given(word=ENGLISH_WORDS)
def test_in_exact_mode_no_other_word_matches(word):
    """Any single word that is not a keyword of the minimal policy matches nothing."""
    from gateway.policy.model import KeywordSet, Policy

    sets = (
        KeywordSet(Kind.STOP, "en", ("STOP",), "opt_out", "global.toml", universal=True),
        KeywordSet(Kind.START, "en", ("START",), "opt_in", "global.toml", universal=True),
        KeywordSet(Kind.HELP, "en", ("HELP",), "help", "global.toml", universal=True),
    )
    m = Matcher(Policy("r", "en", Mode.EXACT, sets, {"en": True}))
    match = m.match(word, None)
    assert (match is not None) == (word.lower() in {"stop", "start", "help"})


def test_exact_only_keywords_are_not_searched_inside_free_text(matcher):
    """TD opts out as the whole message, but 'my TD card' in reasonable mode does not."""
    chinese = language_file("zh", '"TD", "退订"', '"订阅"', '"帮助"', fold=False).replace(
        'reply = "opt_out"', 'exact_only = ["TD"]\nreply = "opt_out"', 1
    )
    m = matcher(
        {"languages/zh.toml": chinese, "countries/US.toml": 'country = "US"\nlanguages = ["en"]\nmode = "reasonable"\n'}
    )
    assert m.match("TD", "US").kind is Kind.STOP
    assert m.match("my TD card was declined", "US") is None


def test_country_without_a_file_answers_in_its_official_language(matcher):
    """STOP from a Spanish number, with no ES file, is answered in Spanish (CLDR: ES → es)."""
    m = matcher({"languages/es.toml": SPANISH})
    assert m.match("STOP", "ES").language == "es"
    assert m.match("STOP", "GB").language == "en"


ENGLISH_EXCEPTIONS = """\
    language = "en"
    mode = "exact"

    [opt_out]
    keywords = ["STOP", "CANCEL", "OPT OUT"]
    phrases = ["STOP TEXTING", "CANCEL MY APPOINTMENT REMINDERS"]
    exceptions = ["STOP BY", "DON'T STOP", "CANCEL MY APPOINTMENT"]
    reply = "opt_out"

    [opt_in]
    keywords = ["START"]
    reply = "opt_in"

    [help]
    keywords = ["HELP"]
    reply = "help"
"""
US_REASONABLE = 'country = "US"\nlanguages = ["en", "es"]\nmode = "reasonable"\n'


@pytest.fixture
def excepting(matcher):
    spanish = SPANISH.replace('reply = "opt_out"', 'exceptions = ["PRESIÓN BAJA"]\nreply = "opt_out"', 1)
    japanese = JAPANESE.replace('reply = "opt_out"', 'exceptions = ["配信停止しないで"]\nreply = "opt_out"', 1)
    return matcher(
        {
            "global.toml": ENGLISH_EXCEPTIONS,
            "languages/es.toml": spanish,
            "languages/ja.toml": japanese,
            "countries/US.toml": US_REASONABLE,
        }
    )


def test_an_opt_out_word_inside_an_exception_does_not_count(excepting):
    """'I'll stop by tomorrow' is a visit, not a revocation."""
    finding = excepting.table("US").examine("I'll stop by tomorrow")
    assert (finding.match, finding.exception) == (None, "STOP BY")


def test_an_exception_neutralises_only_the_occurrence_inside_it(excepting):
    """'cancel my appointment and stop texting me' still opts out, and says which exception it met."""
    match = excepting.match("cancel my appointment and stop texting me", "US")
    assert (match.kind, match.keyword, match.found, match.exception) == (
        Kind.STOP,
        "STOP TEXTING",
        Found.PHRASE,
        "CANCEL MY APPOINTMENT",
    )


def test_a_message_that_is_only_the_keyword_is_never_an_exception(excepting):
    """'Stop!' and 'cancel' are exact matches whatever the exceptions say."""
    assert excepting.match("Stop!", "US").found is Found.EXACT
    assert excepting.match("cancel", "US").exception is None


def test_a_phrase_reaching_beyond_an_exception_still_counts(excepting):
    """The longer rule wins: CANCEL MY APPOINTMENT REMINDERS is not inside CANCEL MY APPOINTMENT."""
    match = excepting.match("Cancel my appointment reminders", "US")
    assert (match.keyword, match.exception) == ("CANCEL MY APPOINTMENT REMINDERS", "CANCEL MY APPOINTMENT")


def test_an_exception_matches_any_apostrophe(excepting):
    """DON'T STOP as written, typed with a curly apostrophe."""
    assert excepting.table("US").examine("Don\u2019t stop!").exception == "DON'T STOP"


def test_an_exception_matches_without_accents_where_the_language_folds(excepting):
    """PRESIÓN BAJA also covers 'presion baja', typed without the accent."""
    assert excepting.table("US").examine("tengo la presion baja").exception == "PRESIÓN BAJA"


def test_an_exception_in_an_unspaced_script_is_found_as_text(excepting):
    """配信停止しないで ('don't stop delivering') contains the keyword 配信停止 but keeps the messages coming."""
    table = excepting.table("US")
    assert table.examine("配信停止しないでください").exception == "配信停止しないで"
    assert table.match("配信停止してください").keyword == "配信停止"


def test_exceptions_leave_exact_mode_alone(excepting):
    """In exact mode nothing inside a sentence counts anyway; the whole-message keyword still does."""
    assert excepting.table("GB").examine("I'll stop by tomorrow").exception is None
    assert excepting.match("STOP", "GB").kind is Kind.STOP


def test_a_phrase_is_preferred_to_a_keyword_and_says_so(excepting):
    """'please stop texting me' contains STOP and STOP TEXTING: the phrase is the surer reading."""
    match = excepting.match("please stop texting me", "US")
    assert (match.keyword, match.found) == ("STOP TEXTING", Found.PHRASE)


def test_a_keyword_inside_a_sentence_is_embedded(excepting):
    """'I want to opt out' finds the keyword OPT OUT as words of a longer message."""
    assert excepting.match("I want to opt out", "US").found is Found.EMBEDDED


def test_a_country_file_can_add_exceptions_for_its_numbers_only(matcher):
    """A US-only exception leaves the same sentence an opt-out elsewhere in reasonable mode."""
    us = US_REASONABLE + '\n[en.opt_out]\nexceptions = ["STOP AT"]\n'
    m = matcher({"languages/es.toml": SPANISH, "countries/US.toml": us})
    assert m.match("I'll stop at the pharmacy", "US") is None
    assert m.match("I'll stop at the pharmacy", "GB", Mode.REASONABLE).kind is Kind.STOP


def test_an_account_wide_keyword_beats_a_phrase_in_the_same_message(matcher):
    """'STOPALL and please remove me' opts out of the whole account: the broader revocation is the safe reading."""
    m = matcher({"countries/US.toml": US_REASONABLE.replace('["en", "es"]', '["en"]')})
    match = m.match("STOPALL and please remove me", "US")
    assert (match.keyword, match.account_wide, match.found) == ("STOPALL", True, Found.EMBEDDED)


RUSSIAN = language_file("ru", '"СТОП", "ОТМЕНА"', '"СТАРТ"', '"ПОМОЩЬ"')


def with_confusables(on: bool) -> str:
    return MINIMAL_GLOBAL.replace('language = "en"', f'language = "en"\n    confusables = {"true" if on else "false"}')


def test_cyrillic_lookalike_stop_opts_out_where_the_switch_is_on(matcher):
    """'ЅТОР' in Cyrillic letters matches STOP when global.toml's confusables is on."""
    match = matcher({"global.toml": with_confusables(True)}).match("ЅТОР", "US")
    assert (match.kind, match.keyword) == (Kind.STOP, "STOP")


def test_cyrillic_lookalike_stop_is_not_a_keyword_where_the_switch_is_off(matcher):
    """With confusables = false the same message is ordinary text."""
    assert matcher({"global.toml": with_confusables(False)}).match("ЅТОР", "US") is None


def test_the_switch_is_on_when_a_file_does_not_say(matcher):
    """A missed opt-out costs more than a wrong one: a policy that says nothing folds look-alikes."""
    assert matcher({}).match("STΟP", "US").kind is Kind.STOP


def test_a_lookalike_never_opts_in(matcher):
    """'ЅТАRТ' with Cyrillic letters is not START: look-alikes count for opt-outs only."""
    assert matcher({"global.toml": with_confusables(True)}).match("ЅТАRТ", "US") is None


def test_russian_keywords_are_not_folded_when_russian_switches_confusables_on(matcher):
    """With the switch on for ru, СТОП and ОТМЕНА still match as Russian, and 'CTOП' in mixed letters does not."""
    russian = RUSSIAN.replace("fold_diacritics = true", "fold_diacritics = true\nconfusables = true")
    built = matcher({"languages/ru.toml": russian})
    assert (built.match("стоп", "RU").keyword, built.match("Отмена", "RU").keyword) == ("СТОП", "ОТМЕНА")
    assert built.match("CTOП", "RU") is None


def test_a_zero_width_space_inside_stop_opts_out(matcher):
    """'S\u200bTOP' matches STOP whatever the switch."""
    assert matcher({"global.toml": with_confusables(False)}).match("S\u200bTOP", "US").kind is Kind.STOP
