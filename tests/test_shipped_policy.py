"""The shipped policies and translations, checked with real messages in every shipped language."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections import Counter

import pytest

from gateway.encoding import segment
from gateway.locales import REPLIES, Catalogs, locale_chain
from gateway.policy.evaluate import evaluate
from gateway.policy.loader import LINT_VARIABLES, load_policies
from gateway.policy.model import Kind
from gateway.policy.watcher import PolicyState
from tests.conftest import ROOT, US_MOBILE

CASES = [json.loads(line) for line in (ROOT / "tests" / "data" / "keywords.jsonl").read_text("utf-8").splitlines()]
#: Real replies with their outcome in reasonable mode (the US default), English and Spanish.
REASONABLE = ROOT / "tests" / "data" / "reasonable.jsonl"
REPLIES_IN_REASONABLE_MODE = [json.loads(line) for line in REASONABLE.read_text("utf-8").splitlines()]
VARIABLES = {"brand": "Acme Dental", "help_contact": "acme.example/help"}
LANGUAGES = [
    "en",
    "es",
    "fr",
    "de",
    "it",
    "pt",
    "nl",
    "pl",
    "sv",
    "da",
    "no",
    "fi",
    "ja",
    "zh",
    "ko",
    "ar",
    "tr",
    "ru",
    "hi",
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c['from']}:{c['body']}" for c in CASES])
def test_field_message_gets_the_expected_decision(case, shipped, shipped_catalogs):
    """Each line of tests/data/keywords.jsonl (also run by `gateway policy test --batch --expect`)."""
    result = evaluate(shipped, shipped_catalogs, case["body"], case["from"], None, VARIABLES)
    assert {k: result[k] for k in case["expect"]} == case["expect"]
    assert (result["reply"] is None) == (case["expect"]["kind"] is None)


def test_every_shipped_language_has_all_three_kinds(shipped):
    kinds = {(s.language, s.kind) for s in shipped.policy.sets}
    assert {(language, kind) for language in shipped.policy.languages for kind in Kind} <= kinds


@pytest.mark.parametrize("language", LANGUAGES[1:])
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


def test_shipped_policy_loads_without_warnings():
    """`make run` starts quiet: the gateway warns about the files staff write, never about its own."""
    result = load_policies(ROOT / "policies", Catalogs.load(ROOT / "locales"))
    assert result.policy is not None and result.errors == []
    assert [str(w) for w in result.warnings] == []


def test_starting_the_gateway_logs_no_policy_warning(caplog):
    """What `make run` prints: loading the shipped policy logs notes at info level and no warning."""
    with caplog.at_level(logging.INFO, logger="gateway.policy"):
        PolicyState(ROOT / "policies", ROOT / "locales").reload()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any(r.getMessage().startswith("policy revision") for r in caplog.records)


@pytest.mark.parametrize("language", LANGUAGES)
def test_opt_out_confirmation_is_one_segment_with_a_20_character_brand(language, shipped, shipped_catalogs):
    """Every opt-out costs one confirmation: one segment in every shipped language."""
    words = shipped.table(None).reply_words(language)
    text = shipped_catalogs.render("opt_out", language, LINT_VARIABLES | words)
    assert segment(text).segments == 1, text
    assert LINT_VARIABLES["brand"] in text and words["start_word"] in text


def test_only_replies_whose_file_says_why_take_two_segments():
    """The shipped notes are the opt-in and help replies of UCS-2 scripts, each with its reason."""
    result = load_policies(ROOT / "policies", Catalogs.load(ROOT / "locales"))
    noted = sorted((n.file, n.key) for n in result.notes)
    assert noted == sorted(
        (f"languages/{language}.toml", f"{kind}.long_reply")
        for language in ("ar", "hi", "ru", "tr")
        for kind in ("opt_in", "help")
    )
    assert all("2 segments" in n.message and "UCS-2, 70 characters a segment" in n.message for n in result.notes)


@pytest.mark.parametrize("case", REPLIES_IN_REASONABLE_MODE, ids=[c["body"] for c in REPLIES_IN_REASONABLE_MODE])
def test_real_reply_gets_its_expected_outcome_in_reasonable_mode(case, shipped, shipped_catalogs):
    """Each line of tests/data/reasonable.jsonl: revocation or not, how sure, and which exception."""
    result = evaluate(shipped, shipped_catalogs, case["body"], case["from"], None, VARIABLES)
    assert {k: result[k] for k in case["expect"]} == case["expect"]


def test_reasonable_mode_corpus_has_40_english_and_20_spanish_replies_half_of_them_revocations():
    """The table is big enough to mean something, and balanced: half revocations, half not."""
    counts = Counter((c["lang"], c["expect"]["kind"] == "STOP") for c in REPLIES_IN_REASONABLE_MODE)
    for language, least in (("en", 40), ("es", 20)):
        revocations, others = counts[(language, True)], counts[(language, False)]
        assert revocations + others >= least and abs(revocations - others) <= 3, counts
    assert {c["mode"] for c in REPLIES_IN_REASONABLE_MODE} == {"reasonable"}


def test_reasonable_mode_corpus_passes_policy_test_batch_expect():
    """CI runs the table through the command staff use: `gateway policy test --batch FILE --expect`."""
    completed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "policy", "test", "--batch", str(REASONABLE), "--expect"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert len(completed.stdout.splitlines()) == len(REPLIES_IN_REASONABLE_MODE)


def _comment_for(lines: list[str], index: int) -> str:
    """The comment a TOML line carries: at its end, or the comment lines right above it."""
    own = lines[index].partition("#")[2].strip()
    above = []
    for line in reversed(lines[:index]):
        if not line.startswith("#"):
            break
        above.append(line.lstrip("# ").strip())
    return " ".join([own, *reversed(above)]).strip()


SOURCED = [
    (path.relative_to(ROOT).as_posix(), number)
    for path in sorted((ROOT / "policies").rglob("*.toml"))
    for number, line in enumerate(path.read_text("utf-8").splitlines())
    if line.startswith(("[quiet_hours", "alpha_sender")) or (number == 0 and "countries" in path.parts)
]


@pytest.mark.parametrize(("file", "index"), SOURCED, ids=[f"{f}:{i + 1}" for f, i in SOURCED])
def test_every_shipped_rule_names_its_source(file, index):
    """Each quiet-hours table, alpha-sender rule and country file says where it comes from (a statute,
    a regulator's or carrier's page, the reference notes), or that no public source was found: an
    operator must be able to check what the gateway enforces."""
    lines = (ROOT / file).read_text("utf-8").splitlines()
    assert _comment_for(lines, index), f"{file}:{index + 1} {lines[index]!r} names no source"
