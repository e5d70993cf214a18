"""Validation: every mistake staff can make is named with file, line and key."""

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from gateway.locales import REPLIES, Catalogs
from gateway.policy.loader import load_policies
from tests.conftest import language_file

SPANISH = language_file("es", '"ALTO", "BAJA"', '"INICIO"', '"AYUDA"')


def load(policy_tree, files, **kwargs):
    policies, locales = policy_tree(files, **kwargs)
    return load_policies(policies, Catalogs.load(locales))


def messages(result):
    return [str(e) for e in result.errors]


def test_a_valid_tree_loads_with_a_content_hash_revision(policy_tree):
    result = load(policy_tree, {"languages/es.toml": SPANISH})
    assert result.errors == [] and len(result.policy.revision) == 12


def test_revision_changes_when_a_keyword_changes(policy_tree):
    first = load(policy_tree, {"languages/es.toml": SPANISH}).policy.revision
    second = load(policy_tree, {"languages/es.toml": SPANISH.replace('"BAJA"', '"DETENER"')}).policy.revision
    assert first != second


def test_keyword_in_two_kinds_names_both_places(policy_tree):
    """INICIO as Spanish opt-out and opt-in is one error at the second place, pointing at the first."""
    broken = SPANISH.replace('"ALTO", "BAJA"', '"ALTO", "INICIO"')
    result = load(policy_tree, {"languages/es.toml": broken})
    assert result.policy is None
    [error] = result.errors
    assert (error.file, error.line, error.key) == ("languages/es.toml", 9, "opt_in.keywords")
    assert "'INICIO' is a START keyword here but 'INICIO' is a STOP keyword in languages/es.toml:5" in error.message


def test_keyword_conflict_across_languages_is_an_error(policy_tree):
    """START may not be an opt-out word in Spanish while it is the global opt-in word."""
    broken = SPANISH.replace('"ALTO", "BAJA"', '"ALTO", "START"')
    [error] = load(policy_tree, {"languages/es.toml": broken}).errors
    assert error.file == "languages/es.toml" and error.line == 5 and "global.toml" in error.message


def test_conflict_through_diacritic_folding_is_an_error(policy_tree):
    """ALTÓ (opt-in) folds to ALTO (opt-out) in a language that folds accents."""
    broken = SPANISH.replace('"INICIO"', '"ALTÓ"')
    assert "'ALTÓ' is a START keyword" in messages(load(policy_tree, {"languages/es.toml": broken}))[0]


def test_country_keyword_conflicting_with_a_language_is_an_error(policy_tree):
    country = 'country = "MX"\nlanguages = ["es"]\n\n[es.help]\nkeywords = ["BAJA"]\n'
    [error] = load(policy_tree, {"languages/es.toml": SPANISH, "countries/MX.toml": country}).errors
    assert (error.file, error.line, error.key) == ("countries/MX.toml", 5, "es.help.keywords")


def test_unknown_language_in_a_country_file(policy_tree):
    country = 'country = "BE"\nlanguages = ["nl", "fr"]\n'
    errors = messages(load(policy_tree, {"countries/BE.toml": country}))
    assert "countries/BE.toml:2: languages: unknown language 'nl': there is no languages/nl.toml" in errors


def test_language_code_that_is_no_language(policy_tree):
    errors = messages(load(policy_tree, {"languages/xx.toml": SPANISH.replace('"es"', '"xx"')}, translated=()))
    assert any(e.startswith("languages/xx.toml:1: language: unknown language 'xx'") for e in errors)


def test_missing_reply_is_an_error(policy_tree):
    broken = SPANISH.replace('[help]\nkeywords = ["AYUDA"]\nreply = "help"', '[help]\nkeywords = ["AYUDA"]')
    errors = messages(load(policy_tree, {"languages/es.toml": broken}))
    assert errors == [
        "languages/es.toml:12: help: missing reply: name the confirmation this kind sends (e.g. reply = 'help')"
    ]


def test_unknown_reply_id_is_an_error(policy_tree):
    broken = SPANISH.replace('reply = "help"', 'reply = "ayuda"')
    assert (
        "languages/es.toml:14: help.reply: unknown reply 'ayuda'"
        in messages(load(policy_tree, {"languages/es.toml": broken}))[0]
    )


def test_reply_without_translation_for_a_declared_language(policy_tree):
    """A Spanish policy with no Spanish catalog cannot answer in Spanish."""
    errors = messages(load(policy_tree, {"languages/es.toml": SPANISH}, translated=()))
    assert (
        "languages/es.toml:6: opt_out.reply: reply 'opt_out' has no translation for 'es': add it to "
        "locales/es/LC_MESSAGES/gateway.po" in errors
    )


def test_invalid_toml_names_the_line(policy_tree):
    broken = SPANISH.replace('keywords = ["AYUDA"]', 'keywords = ["AYUDA"')
    [error] = load(policy_tree, {"languages/es.toml": broken}).errors
    assert (error.file, error.line, error.key) == ("languages/es.toml", 14, "(syntax)")


def test_misspelt_key_is_reported_not_ignored(policy_tree):
    broken = SPANISH.replace('keywords = ["AYUDA"]', 'keyword = ["AYUDA"]')
    assert any("help.keyword: unknown key" in e for e in messages(load(policy_tree, {"languages/es.toml": broken})))


def test_bad_mode_is_reported(policy_tree):
    country = 'country = "US"\nlanguages = ["en"]\nmode = "fuzzy"\n'
    assert "countries/US.toml:3: mode: must be 'exact' or 'reasonable', not 'fuzzy'" in messages(
        load(policy_tree, {"countries/US.toml": country})
    )


def test_country_file_name_must_be_its_code(policy_tree):
    errors = messages(load(policy_tree, {"countries/XX.toml": 'country = "XX"\nlanguages = ["en"]\n'}))
    assert errors[0].startswith("countries/XX.toml:1: country: must be 'XX'")


def test_all_errors_are_reported_at_once(policy_tree):
    broken = SPANISH.replace('reply = "help"', 'reply = "ayuda"').replace('"INICIO"', '"ALTO"')
    assert len(load(policy_tree, {"languages/es.toml": broken}).errors) == 2


def test_reply_longer_than_one_segment_is_a_warning_naming_language_and_count(policy_tree):
    """A Russian-script opt-in text is UCS-2 (70 characters a segment): with a 20-character brand it takes 2."""
    policies, locales = policy_tree({"languages/es.toml": SPANISH})
    catalog = Catalog(locale="es", domain="gateway")
    for source in REPLIES.values():
        catalog.add(
            source,
            "{{ brand }}: Вы снова подписаны. Частота сообщений варьируется. Ответьте "
            "{{ help_word }} для помощи или {{ stop_word }} для отказа.",
        )
    with (locales / "es" / "LC_MESSAGES" / "gateway.po").open("wb") as handle:
        write_po(handle, catalog)
    result = load_policies(policies, Catalogs.load(locales))
    assert result.policy is not None
    assert "languages/es.toml:10: opt_in.reply: reply 'opt_in' in 'es' is 2 segments (UCS-2, 119 characters" in str(
        result.warnings[1]
    )


def test_bad_opt_out_scope_is_reported(policy_tree):
    country = 'country = "US"\nlanguages = ["en"]\nopt_out_scope = "everything"\n'
    assert "countries/US.toml:3: opt_out_scope: must be 'service' or 'account', not 'everything'" in messages(
        load(policy_tree, {"countries/US.toml": country})
    )


def test_country_settings_override_the_global_ones(policy_tree):
    country = (
        'country = "US"\nlanguages = ["en"]\nalpha_sender = false\nopt_out_scope = "account"\nlink_channels = true\n'
    )
    policy = load(policy_tree, {"countries/US.toml": country}).policy
    assert (policy.alpha_allowed("US"), policy.scope_for("US"), policy.channels_linked("US")) == (
        False,
        "account",
        True,
    )
    assert (policy.alpha_allowed("GB"), policy.scope_for("GB"), policy.channels_linked("GB")) == (
        True,
        "service",
        False,
    )


def _with_opt_out(extra: str) -> str:
    """The Spanish file with `extra` lines in its [opt_out] section, just before its reply (line 6)."""
    return SPANISH.replace('reply = "opt_out"', f'{extra}\nreply = "opt_out"', 1)


def test_exception_without_an_opt_out_word_is_an_error(policy_tree):
    """MUY BIEN contains no opt-out word, so it could never apply: the file is wrong, not the message."""
    result = load(policy_tree, {"languages/es.toml": _with_opt_out('exceptions = ["MUY BIEN"]')})
    assert messages(result) == [
        "languages/es.toml:6: opt_out.exceptions: 'MUY BIEN' contains no opt-out keyword or "
        "phrase that is looked for inside messages, so it can never apply"
    ]


def test_exception_that_is_itself_a_keyword_is_an_error(policy_tree):
    """An exception ALTO would make ALTO count only as the whole message: that is what exact_only says."""
    [error] = messages(load(policy_tree, {"languages/es.toml": _with_opt_out('exceptions = ["ALTO"]')}))
    assert error.startswith("languages/es.toml:6: opt_out.exceptions: 'ALTO' is itself an opt-out keyword or phrase")
    assert "exact_only" in error


def test_exception_around_an_exact_only_keyword_is_an_error(policy_tree):
    """BAJA is never searched inside messages, so PLANTA BAJA has nothing to neutralise."""
    spanish = _with_opt_out('exact_only = ["BAJA"]\nexceptions = ["PLANTA BAJA"]')
    assert "'PLANTA BAJA' contains no opt-out keyword" in messages(load(policy_tree, {"languages/es.toml": spanish}))[0]


def test_exceptions_outside_opt_out_are_an_error(policy_tree):
    spanish = SPANISH.replace('reply = "help"', 'exceptions = ["AYUDA POR FAVOR"]\nreply = "help"')
    assert "languages/es.toml:12: help: phrases, account_wide, exact_only and exceptions are for [opt_out] only" in (
        messages(load(policy_tree, {"languages/es.toml": spanish}))
    )


def test_words_longer_than_the_audit_trail_records_are_an_error(policy_tree):
    """A consent event keeps 64 characters of the keyword or exception that decided it."""
    long = "NO QUIERO RECIBIR NINGUN MENSAJE MAS DE USTEDES NUNCA JAMAS EN LA VIDA"
    result = load(policy_tree, {"languages/es.toml": _with_opt_out(f'phrases = ["{long}"]')})
    assert messages(result) == [
        f"languages/es.toml:6: opt_out.phrases: '{long}' is longer than 64 characters, the most the audit trail records"
    ]


def _cyrillic_opt_in(policy_tree, spanish):
    """A tree whose Spanish opt-in text is Cyrillic: UCS-2, two segments with a 20-character brand."""
    policies, locales = policy_tree({"languages/es.toml": spanish})
    catalog = Catalog(locale="es", domain="gateway")
    for reply, source in REPLIES.items():
        catalog.add(
            source,
            "{{ brand }}: Вы снова подписаны. Частота сообщений варьируется. Ответьте "
            "{{ help_word }} для помощи или {{ stop_word }} для отказа."
            if reply == "opt_in"
            else f"[es] {source}",
        )
    with (locales / "es" / "LC_MESSAGES" / "gateway.po").open("wb") as handle:
        write_po(handle, catalog)
    return load_policies(policies, Catalogs.load(locales))


def test_long_reply_turns_the_segment_warning_into_a_note_with_its_reason(policy_tree):
    """A file that says why its reply needs two segments gets a note, not a warning."""
    spanish = SPANISH.replace('reply = "opt_in"', 'reply = "opt_in"\nlong_reply = "Cyrillic is UCS-2"')
    result = _cyrillic_opt_in(policy_tree, spanish)
    assert result.warnings == []
    assert [str(n) for n in result.notes] == [
        "languages/es.toml:11: opt_in.long_reply: reply 'opt_in' in 'es' is 2 "
        "segments (UCS-2, 119 characters with a 20-character brand): Cyrillic "
        "is UCS-2"
    ]


def test_a_long_reply_without_a_reason_still_warns(policy_tree):
    """The checker keeps warning about the texts staff write until their file explains them."""
    result = _cyrillic_opt_in(policy_tree, SPANISH)
    assert [(w.file, w.key) for w in result.warnings] == [("languages/es.toml", "opt_in.reply")]
    assert result.notes == []


def test_long_reply_on_a_reply_that_fits_is_a_warning(policy_tree):
    """A stale long_reply would hide a text that grows later, so it is reported."""
    spanish = SPANISH.replace('reply = "help"', 'reply = "help"\nlong_reply = "it used to be long"')
    result = load(policy_tree, {"languages/es.toml": spanish})
    assert [str(w) for w in result.warnings] == [
        "languages/es.toml:15: help.long_reply: reply 'help' in 'es' fits one "
        "segment now: remove long_reply, so a longer text warns again"
    ]


def test_long_reply_in_a_country_file_is_an_error(policy_tree):
    """Country replies are not measured, so a reason there would explain nothing."""
    country = 'country = "MX"\nlanguages = ["es"]\n\n[es.opt_out]\nkeywords = ["CANCELA"]\nlong_reply = "why"\n'
    assert (
        "countries/MX.toml:6: es.opt_out.long_reply: is for global.toml and the language files, whose replies the "
        "checker measures" in messages(load(policy_tree, {"languages/es.toml": SPANISH, "countries/MX.toml": country}))
    )


def _shipped_with(tmp_path, name, appended):
    """The shipped policy tree with `appended` added at the end of `name`; returns its load and
    the number of the first appended line."""
    import shutil

    from tests.conftest import ROOT

    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    path = policies / name
    text = path.read_text()
    path.write_text(text + appended)
    return load_policies(policies, Catalogs.load(ROOT / "locales")), len(text.splitlines()) + 1


def test_a_syntax_error_on_the_last_line_is_reported_there(tmp_path):
    """tomllib says "at end of document" for an unfinished last line: the error names that line, not line 1."""
    result, line = _shipped_with(tmp_path, "countries/CA.toml", "mode = ")
    [error] = result.errors
    assert (error.file, error.line, error.key) == ("countries/CA.toml", line, "(syntax)")


def test_an_unknown_state_table_is_reported_at_its_header(tmp_path):
    """A `[quiet_hours.ZZ]` table is a key of `[quiet_hours]`: the error names the table's own line."""
    result, line = _shipped_with(
        tmp_path, "countries/US.toml", '\n[quiet_hours.ZZ]\nwindows = ["Mon-Sun 08:00-20:00"]\n'
    )
    [error] = result.errors
    assert (error.file, error.line, error.key) == ("countries/US.toml", line + 1, "quiet_hours.ZZ")
