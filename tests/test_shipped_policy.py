"""The shipped policies and translations, checked with real messages in every shipped language."""

from __future__ import annotations

import json

import pytest

from gateway.locales import REPLIES, locale_chain
from gateway.policy.evaluate import evaluate
from gateway.policy.model import Kind
from tests.conftest import ROOT, US_MOBILE

CASES = [json.loads(line) for line in (ROOT / "tests" / "data" / "keywords.jsonl").read_text("utf-8").splitlines()]
VARIABLES = {"brand": "Acme Dental", "help_contact": "acme.example/help"}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['from']}:{c['body']}" for c in CASES])
def test_field_message_gets_the_expected_decision(case, shipped, shipped_catalogs):
    """Each line of tests/data/keywords.jsonl (also run by `gateway policy test --batch --expect`)."""
    result = evaluate(shipped, shipped_catalogs, case["body"], case["from"], None, VARIABLES)
    assert {k: result[k] for k in case["expect"]} == case["expect"]
    assert (result["reply"] is None) == (case["expect"]["kind"] is None)


def test_every_shipped_language_has_all_three_kinds(shipped):
    kinds = {(s.language, s.kind) for s in shipped.policy.sets}
    assert {(language, kind) for language in shipped.policy.languages for kind in Kind} <= kinds


@pytest.mark.parametrize("language", ["es", "fr", "de", "it", "pt", "nl", "pl", "sv", "da", "no", "fi", "ja", "zh",
                                      "ko", "ar", "tr", "ru", "hi"])
@pytest.mark.parametrize("reply", list(REPLIES))
def test_every_reply_is_translated_and_renders_brand_and_working_keywords(language, reply, shipped, shipped_catalogs):
    """The rendered confirmation names the brand and only keywords that really work in that language."""
    text, found_in = shipped_catalogs.template(reply, language)
    assert found_in == language and text != REPLIES[reply]
    words = shipped.table(None).reply_words(language)
    rendered = shipped_catalogs.render(reply, language, VARIABLES | words)
    assert "Acme Dental" in rendered and "{{" not in rendered
    for placeholder, word in words.items():
        if placeholder in text:
            assert word in rendered
            assert shipped.match(word, None) is not None


def test_locale_fallback_goes_from_region_to_language_to_english(shipped_catalogs):
    """es_MX → es → en: a Mexican locale gets the Spanish text; an unknown one gets English."""
    assert locale_chain("es_MX") == ["es_MX", "es", "en"]
    assert shipped_catalogs.template("help", "es-MX")[1] == "es"
    assert shipped_catalogs.template("help", "xx")[1] == "en"


def test_us_confirmations_say_msg_and_data_rates_may_apply(shipped, shipped_catalogs):
    """CTIA: help and opt-in replies in the US carry the rates disclosure, in English and Spanish."""
    for body, needle in (("HELP", "Msg & data rates may apply"), ("AYUDA", "tarifas")):
        reply = evaluate(shipped, shipped_catalogs, body, US_MOBILE, None, VARIABLES)["reply"]
        assert needle.lower() in reply.lower()
