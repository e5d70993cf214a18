"""Reading and validating the policy files.

Staff edit these files by hand, so every problem is reported with the file,
the line and the key, all at once, and a broken revision never replaces a
good one (see `policy.watcher`).  Line numbers are found by scanning the text,
since `tomllib` keeps none.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
from babel import Locale, UnknownLocaleError

from gateway.encoding import segment
from gateway.errors import PolicyError
from gateway.locales import REPLIES, Catalogs
from gateway.policy.matcher import compile_country, effective_sets
from gateway.policy.model import SECTIONS, AlphaSupport, CountryPolicy, KeywordSet, Kind, Mode, Policy
from gateway.policy.normalize import fold_diacritics, normalize
from gateway.policy.windows import read_alpha, read_quiet_hours, read_unregistered

#: Values used to measure replies for the one-segment warning.
LINT_VARIABLES = {"brand": "B" * 20, "help_contact": "help.example.com"}

_TOP_KEYS = {
    "global": {
        "language",
        "mode",
        "fold_diacritics",
        "confusables",
        "alpha_sender",
        "opt_out_scope",
        "link_channels",
        "unregistered_alpha",
        "mms",
    },
    "language": {"language", "fold_diacritics", "confusables"},
    "country": {
        "country",
        "languages",
        "mode",
        "alpha_sender",
        "opt_out_scope",
        "link_channels",
        "unregistered_alpha",
        "quiet_hours",
        "mms",
    },
}
_SET_KEYS = {"keywords", "reply", "phrases", "account_wide", "exact_only", "exceptions", "long_reply", "replace"}
#: The longest keyword, phrase or exception: what a consent event's `keyword` and `exception` hold.
MAX_WORDS_LENGTH = 64


@dataclass
class LoadResult:
    """A validated policy, or the reasons there is none; warnings either way.  Notes are what the
    files themselves explain (a reply their `long_reply` says must be longer): shown, not warned."""

    policy: Policy | None
    errors: list[PolicyError] = field(default_factory=list)
    warnings: list[PolicyError] = field(default_factory=list)
    notes: list[PolicyError] = field(default_factory=list)


class _Locator:
    """Finds the line of a table, key or string value in a TOML text."""

    _HEADER = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def line(self, section: str | None = None, key: str | None = None, value: str | None = None) -> int:
        start, end = 0, len(self.lines)
        if section is not None:
            start = self._table(section) or 0
        for number in range(start + (1 if section else 0), len(self.lines)):
            if self._HEADER.match(self.lines[number]):
                end = number
                break
        found = start
        if key is not None:
            pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
            line = next((n for n in range(start, end) if pattern.match(self.lines[n])), None)
            if line is None:
                line = self._table(f"{section}.{key}" if section else key)
            found = start if line is None else line
        if value is not None:
            quoted = (f'"{value}"', f"'{value}'")
            found = next((n for n in range(found, end) if any(q in self.lines[n] for q in quoted)), found)
        return found + 1

    def _table(self, name: str) -> int | None:
        """The index of the line `[name]`; a key that is a table (`[quiet_hours.ZZ]`) is found here."""
        return next(
            (
                number
                for number, text in enumerate(self.lines)
                if (header := self._HEADER.match(text)) and header.group(1).replace(" ", "") == name
            ),
            None,
        )


@dataclass
class _File:
    path: Path
    relative: str
    data: dict[str, Any]
    locate: _Locator

    def error(
        self, message: str, section: str | None = None, key: str | None = None, value: str | None = None
    ) -> PolicyError:
        name = ".".join(k for k in (section, key) if k) or "(file)"
        return PolicyError(self.relative, self.locate.line(section, key, value), name, message)


def load_policies(directory: Path, catalogs: Catalogs) -> LoadResult:
    """Read `directory` into a `Policy`, or explain every reason it cannot be used."""
    directory = Path(directory)
    errors: list[PolicyError] = []
    files: dict[str, str] = {}
    digest = hashlib.sha256()

    def read(path: Path) -> _File | None:
        relative = path.relative_to(directory).as_posix()
        raw = path.read_bytes()
        digest.update(relative.encode() + b"\0" + raw + b"\0")
        text = raw.decode("utf-8", errors="replace")
        files[relative] = text
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            where = re.search(r"line (\d+)", str(exc))
            # tomllib says "at end of document" for an error on the last line, which may be unfinished
            line = int(where.group(1)) if where else max(1, len(text.splitlines()))
            errors.append(PolicyError(relative, line, "(syntax)", f"invalid TOML: {exc}"))
            return None
        return _File(path, relative, data, _Locator(text))

    global_path = directory / "global.toml"
    if not global_path.is_file():
        return LoadResult(None, [PolicyError("global.toml", 0, "(file)", f"missing: {global_path} does not exist")])
    global_file = read(global_path)
    language_files = [f for p in sorted((directory / "languages").glob("*.toml")) if (f := read(p))]
    country_files = [f for p in sorted((directory / "countries").glob("*.toml")) if (f := read(p))]
    digest.update(catalogs.revision.encode())
    if global_file is None:
        return LoadResult(None, errors)

    fold: dict[str, bool] = {}
    confusables: dict[str, bool] = {}  # on unless a file says false: a missed opt-out costs more
    sets: list[KeywordSet] = []
    global_language = _read_language(global_file, "global", errors)
    fold[global_language] = _read_bool(global_file, "fold_diacritics", True, errors)
    confusables[global_language] = _read_bool(global_file, "confusables", True, errors)
    sets += _read_sets(global_file, global_language, errors, universal=True)
    for language_file in language_files:
        language = _read_language(language_file, "language", errors)
        if language != language_file.path.stem:
            errors.append(language_file.error(f"must be {language_file.path.stem!r}, the file's name", key="language"))
        fold[language] = _read_bool(language_file, "fold_diacritics", True, errors)
        confusables[language] = _read_bool(language_file, "confusables", True, errors)
        sets += _read_sets(language_file, language, errors)
    known = set(fold)
    countries = {c.country: c for f in country_files if (c := _read_country(f, known, errors))}
    mode = _read_mode(global_file, errors) or Mode.EXACT

    _check_replies(
        sets + [s for c in countries.values() for s in c.sets],
        {f.relative: f for f in [global_file, *language_files, *country_files]},
        catalogs,
        errors,
    )
    policy = Policy(
        revision=digest.hexdigest()[:12],
        language=global_language,
        mode=mode,
        sets=tuple(sets),
        fold_diacritics=fold,
        confusables=confusables,
        countries=countries,
        files=files,
        alpha_sender=read_alpha(global_file, errors) or AlphaSupport.SUPPORTED,
        unregistered_alpha=read_unregistered(global_file, errors) or "warn",
        opt_out_scope=_read_scope(global_file, errors) or "service",
        link_channels=_read_bool(global_file, "link_channels", False, errors),
        mms=_read_bool(global_file, "mms", True, errors),
        lines=_setting_lines([global_file, *country_files]),
    )
    by_file = {f.relative: f for f in [global_file, *language_files, *country_files]}
    for country in [None, *countries.values()]:  # the same conflict found twice is reported once
        _check_conflicts(effective_sets(policy, country), fold, by_file, errors)
    _check_exceptions(policy, by_file, errors)
    if errors:
        return LoadResult(None, _unique(errors))
    warnings, notes = _segment_warnings(policy, catalogs, by_file)
    return LoadResult(policy, [], warnings, notes)


def _setting_lines(files: Iterable[_File]) -> dict[tuple[str, str], int]:
    """(file, key) → the line of each top-level key and table of the files, for `Policy.source_of`."""
    return {
        (file.relative, key): file.locate.line(section=key) if isinstance(value, dict) else file.locate.line(key=key)
        for file in files
        for key, value in file.data.items()
    }


def _unique(errors: Iterable[PolicyError]) -> list[PolicyError]:
    return sorted(dict.fromkeys(errors), key=lambda e: (e.file, e.line, e.key))


def _read_language(file: _File, role: str, errors: list[PolicyError]) -> str:
    allowed = _TOP_KEYS[role]
    for key, value in file.data.items():
        if key not in allowed and not (isinstance(value, dict) and key in SECTIONS):
            expected = ", ".join(sorted(allowed | set(SECTIONS)))
            errors.append(file.error(f"unknown key (expected one of {expected})", key=key))
    language = file.data.get("language")
    if not isinstance(language, str) or not _is_language(language):
        errors.append(
            file.error(f"unknown language {language!r}: use a language code such as 'en' or 'pt_BR'", key="language")
        )
        return str(language)
    return language


def _is_language(code: str) -> bool:
    try:
        Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return False
    return True


def _read_bool(file: _File, key: str, default: bool, errors: list[PolicyError], section: str | None = None) -> bool:
    table = _table(file, section) if section else file.data
    value = table.get(key, default)
    if not isinstance(value, bool):
        errors.append(file.error("must be true or false", section, key))
        return default
    return value


def _read_mode(file: _File, errors: list[PolicyError]) -> Mode | None:
    value = file.data.get("mode")
    if value is None:
        return None
    try:
        return Mode(value)
    except ValueError:
        errors.append(file.error(f"must be 'exact' or 'reasonable', not {value!r}", key="mode"))
        return None


def _strings(file: _File, section: str, key: str, errors: list[PolicyError]) -> tuple[str, ...]:
    table = _table(file, section)
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        errors.append(file.error("must be a list of non-empty strings", section, key))
        return ()
    for item in value:
        if not normalize(item):
            errors.append(file.error(f"{item!r} has no letters or digits left after normalization", section, key, item))
        elif len(item.strip()) > MAX_WORDS_LENGTH:
            errors.append(
                file.error(
                    f"{item!r} is longer than {MAX_WORDS_LENGTH} characters, the most the audit trail records",
                    section,
                    key,
                    item,
                )
            )
    return tuple(v.strip() for v in value if normalize(v))


def _table(file: _File, section: str) -> dict[str, Any]:
    table: Any = file.data
    for part in section.split("."):
        table = table.get(part, {}) if isinstance(table, dict) else {}
    return table if isinstance(table, dict) else {}


def _read_sets(
    file: _File,
    language: str,
    errors: list[PolicyError],
    *,
    universal: bool = False,
    prefix: str = "",
    required: bool = True,
) -> list[KeywordSet]:
    sets = []
    for name, kind in SECTIONS.items():
        section = f"{prefix}{name}"
        table = _table(file, section)
        if not table:
            if required:
                errors.append(file.error(f"missing section [{section}]", section))
            continue
        for key in table:
            if key not in _SET_KEYS or (key == "replace" and not prefix):
                errors.append(
                    file.error(
                        f"unknown key (expected keywords, reply, phrases, account_wide, exact_only, "
                        f"exceptions, long_reply{', replace' if prefix else ''})",
                        section,
                        key,
                    )
                )
        keywords = _strings(file, section, "keywords", errors)
        phrases = _strings(file, section, "phrases", errors)
        account_wide = _strings(file, section, "account_wide", errors)
        exact_only = _strings(file, section, "exact_only", errors)
        exceptions = _strings(file, section, "exceptions", errors)
        if kind is not Kind.STOP and (phrases or account_wide or exact_only or exceptions):
            errors.append(
                file.error("phrases, account_wide, exact_only and exceptions are for [opt_out] only", section)
            )
        long_reply = _read_long_reply(file, section, table, errors, measured=not prefix)
        for key, words in (("account_wide", account_wide), ("exact_only", exact_only)):
            for word in words:
                if word not in keywords:
                    errors.append(file.error(f"{word!r} is not one of this section's keywords", section, key, word))
        reply = table.get("reply")
        if reply is None and required:
            errors.append(
                file.error(f"missing reply: name the confirmation this kind sends (e.g. reply = {name!r})", section)
            )
        elif reply is not None and reply not in REPLIES:
            errors.append(file.error(f"unknown reply {reply!r} (known: {', '.join(REPLIES)})", section, "reply"))
        sets.append(
            KeywordSet(
                kind,
                language,
                keywords,
                reply if reply in REPLIES else None,
                file.relative,
                phrases,
                frozenset(account_wide),
                frozenset(exact_only),
                universal,
                exceptions,
                long_reply,
            )
        )
    return sets


def _read_long_reply(
    file: _File, section: str, table: dict[str, Any], errors: list[PolicyError], *, measured: bool
) -> str | None:
    """`long_reply`: why this reply may take more than one segment, in words (the note shows them)."""
    value = table.get("long_reply")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        errors.append(
            file.error("must say, in words, why the reply needs more than one segment", section, "long_reply")
        )
        return None
    if not measured:
        errors.append(
            file.error(
                "is for global.toml and the language files, whose replies the checker measures", section, "long_reply"
            )
        )
        return None
    return " ".join(value.split())


def _read_country(file: _File, known: set[str], errors: list[PolicyError]) -> CountryPolicy | None:
    code = file.data.get("country")
    if code != file.path.stem or code not in phonenumbers.SUPPORTED_REGIONS:
        errors.append(
            file.error(f"must be {file.path.stem!r}, the file's name, and an ISO 3166 country code", key="country")
        )
        return None
    for key, value in file.data.items():
        if key not in _TOP_KEYS["country"] and not (isinstance(value, dict) and key in known):
            hint = f"unknown language {key!r}" if isinstance(value, dict) else "unknown key"
            errors.append(
                file.error(
                    f"{hint} (expected country, languages, mode, alpha_sender, unregistered_alpha, "
                    f"opt_out_scope, link_channels, mms, [quiet_hours] or [<language>.<kind>] sections "
                    f"for a known language)",
                    key=key,
                )
            )
    languages = file.data.get("languages")
    if not isinstance(languages, list) or not languages or not all(isinstance(x, str) for x in languages):
        errors.append(file.error("must list at least one language, e.g. languages = ['fr']", key="languages"))
        return None
    for language in languages:
        if language not in known:
            errors.append(
                file.error(
                    f"unknown language {language!r}: there is no languages/{language}.toml",
                    key="languages",
                    value=language,
                )
            )
    sets: list[KeywordSet] = []
    replaces: set[tuple[str, Kind]] = set()
    for language in (k for k, v in file.data.items() if isinstance(v, dict) and k in known):
        sets += _read_sets(file, language, errors, prefix=f"{language}.", required=False)
        for name, kind in SECTIONS.items():
            section = f"{language}.{name}"
            if _table(file, section) and _read_bool(file, "replace", False, errors, section=section):
                replaces.add((language, kind))
    linked = _read_bool(file, "link_channels", False, errors) if "link_channels" in file.data else None
    quiet_hours, state_hours = read_quiet_hours(file, code, errors)
    return CountryPolicy(
        code,
        tuple(languages),
        file.relative,
        _read_mode(file, errors),
        read_alpha(file, errors),
        _read_scope(file, errors),
        linked,
        tuple(sets),
        frozenset(replaces),
        read_unregistered(file, errors),
        quiet_hours,
        state_hours,
        _read_bool(file, "mms", True, errors) if "mms" in file.data else None,
    )


def _read_scope(file: _File, errors: list[PolicyError]) -> str | None:
    value = file.data.get("opt_out_scope")
    if value is not None and value not in ("service", "account"):
        errors.append(file.error(f"must be 'service' or 'account', not {value!r}", key="opt_out_scope"))
        return None
    return value if isinstance(value, str) else None


def _check_replies(
    sets: list[KeywordSet], files: dict[str, _File], catalogs: Catalogs, errors: list[PolicyError]
) -> None:
    for keyword_set in sets:
        if keyword_set.reply and not catalogs.has_translation(keyword_set.language, keyword_set.reply):
            file = files[keyword_set.source]
            section = _section_of(file, keyword_set)
            errors.append(
                file.error(
                    f"reply {keyword_set.reply!r} has no translation for {keyword_set.language!r}: add it to "
                    f"locales/{keyword_set.language}/LC_MESSAGES/gateway.po",
                    section,
                    "reply",
                )
            )


def _section_of(file: _File, keyword_set: KeywordSet) -> str:
    name = next(n for n, k in SECTIONS.items() if k is keyword_set.kind)
    return f"{keyword_set.language}.{name}" if file.relative.startswith("countries/") else name


def _check_conflicts(
    sets: list[KeywordSet], fold: dict[str, bool], files: dict[str, _File], errors: list[PolicyError]
) -> None:
    """A keyword (or, where accents fold, its unaccented form) may mean only one kind."""
    seen: dict[str, tuple[Kind, KeywordSet, str]] = {}
    for keyword_set in sets:
        words = [(w, keyword_set.kind) for w in keyword_set.keywords] + [(p, Kind.STOP) for p in keyword_set.phrases]
        for word, kind in words:
            key = normalize(word)
            for form in {key, fold_diacritics(key) if fold.get(keyword_set.language, True) else key}:
                previous = seen.setdefault(form, (kind, keyword_set, word))
                if previous[0] is kind:
                    continue
                other_file = files[previous[1].source]
                line = other_file.locate.line(_section_of(other_file, previous[1]), "keywords", previous[2])
                other = f"{other_file.relative}:{line}"
                file = files[keyword_set.source]
                errors.append(
                    file.error(
                        f"{word!r} is a {kind} keyword here but {previous[2]!r} is a {previous[0]} keyword in {other} "
                        f"({previous[1].language}); a keyword can mean only one thing",
                        _section_of(file, keyword_set),
                        "phrases" if word in keyword_set.phrases else "keywords",
                        word,
                    )
                )


def _check_exceptions(policy: Policy, files: dict[str, _File], errors: list[PolicyError]) -> None:
    """An exception must contain an opt-out keyword or phrase that is searched for in messages (else it
    can never apply), and must say more than it: an exception that is the keyword itself would
    silently turn that keyword into an exact-only one."""
    sets = list(policy.sets) + [s for c in policy.countries.values() for s in c.sets]
    if not any(s.exceptions for s in sets):
        return
    searched = {
        form
        for s in sets
        if s.kind is Kind.STOP
        for word in (*s.keywords, *s.phrases)
        for form in (normalize(word), fold_diacritics(normalize(word)))
    }
    own_words = [code for code, country in policy.countries.items() if country.sets]  # the others match as None
    live = {
        guard.exception
        for code in [None, *own_words]
        for guards in compile_country(policy, code).guards.values()
        for guard in guards
    }
    for keyword_set in sets:
        file = files[keyword_set.source]
        section = _section_of(file, keyword_set)
        for exception in keyword_set.exceptions:
            if normalize(exception) in searched:
                errors.append(
                    file.error(
                        f"{exception!r} is itself an opt-out keyword or phrase: an exception must say more than the "
                        "words it neutralises (for a keyword that counts only as the whole message, use exact_only)",
                        section,
                        "exceptions",
                        exception,
                    )
                )
            elif exception not in live:
                errors.append(
                    file.error(
                        f"{exception!r} contains no opt-out keyword or phrase that is looked for inside messages, so "
                        "it can never apply",
                        section,
                        "exceptions",
                        exception,
                    )
                )


def _segment_warnings(
    policy: Policy, catalogs: Catalogs, files: dict[str, _File]
) -> tuple[list[PolicyError], list[PolicyError]]:
    """A reply over one segment with a 20-character brand is a warning, or a note where the file's
    `long_reply` says why; a `long_reply` on a reply that fits is a warning (it would hide a change)."""
    warnings, notes = [], []
    table = compile_country(policy, None)
    for keyword_set in policy.sets:
        if not keyword_set.reply:
            continue
        variables = LINT_VARIABLES | table.reply_words(keyword_set.language)
        text = catalogs.render(keyword_set.reply, keyword_set.language, variables)
        counted = segment(text)
        file = files[keyword_set.source]
        section = _section_of(file, keyword_set)
        size = (
            f"reply {keyword_set.reply!r} in {keyword_set.language!r} is {counted.segments} segments "
            f"({counted.encoding}, {counted.characters} characters with a 20-character brand)"
        )
        if counted.segments > 1 and keyword_set.long_reply:
            notes.append(file.error(f"{size}: {keyword_set.long_reply}", section, "long_reply"))
        elif counted.segments > 1:
            warnings.append(file.error(size, section, "reply"))
        elif keyword_set.long_reply:
            warnings.append(
                file.error(
                    f"reply {keyword_set.reply!r} in {keyword_set.language!r} fits one segment "
                    "now: remove long_reply, so a longer text warns again",
                    section,
                    "long_reply",
                )
            )
    return _unique(warnings), _unique(notes)
