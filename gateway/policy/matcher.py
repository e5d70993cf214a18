"""Keyword matching: pure, compiled once per policy revision and country.

Theory.  Every keyword set of the revision (global, each language, the
sender country's additions) is flattened into entries keyed by the keyword's
normalized form.  Several entries may share a key (STOP is English, French
and German); they always share a kind, the loader makes sure of it.  Which
language answers is decided once per country, at compile time:

1. the first of the country's default languages that lists the keyword
   (CA: en before fr, so STOP → en; ARRET is only French → fr); a country
   without a file has its official languages (CLDR), else the global one;
2. else, for a universal keyword (global.toml), the first default language
   that has a reply of that kind (STOP from a German mobile → de);
3. else the keyword's own language (AYUDA from anywhere → es), the global
   file's first, then alphabetical, so the choice is stable.

A message is then matched with one dict lookup (exact), plus, for languages
that allow it, one lookup of its diacritic-folded form (ARRÊT = ARRET).  A
message that is not ASCII and matched nothing gets one more: its letters of
other scripts that look Latin (`normalize.latin_lookalikes`: Cyrillic ЅТОР, a
Greek omicron) read as Latin, against the opt-out keywords of languages whose
`confusables` switch is on.  Only the message is read so, and only keywords it
leaves unchanged (Latin-script ones) are looked up: a Russian СТОП is never
folded, and a look-alike never opts anyone in.  In
reasonable mode, opt-out keywords and phrases are also looked for as whole
words inside the message; opt-in and help never are, so nobody is opted in by
free text.

Exceptions (`STOP BY`, `CANCEL MY APPOINTMENT`) say where an opt-out word does
not count.  An occurrence is neutralised only when it lies wholly inside an
exception found in the same message, so the longer rule wins both ways:
`cancel my appointment and stop texting me` still opts out (its STOP is outside
the exception), and a phrase that reaches beyond an exception (`CANCEL MY
APPOINTMENT REMINDERS`) counts.  Each occurrence knows at compile time which
exceptions contain it and where (`_Guard`), so a message pays for exceptions
only when an opt-out word is in it.  A message that is only a keyword is an
exact match and never reaches them.

How sure a match is (`Found`) travels with it to the audit trail and the app:
`exact` (the whole message), `phrase` (a policy phrase inside it) or `embedded`
(a keyword inside it).  Of several occurrences, an account-wide keyword wins
(the broader revocation is the safe reading), then a phrase beats a keyword,
since it says more; else the first occurrence in the message wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from babel.languages import get_official_languages

from gateway.policy.model import CountryPolicy, Found, KeywordSet, Kind, Mode, Policy
from gateway.policy.normalize import (
    fold_diacritics,
    has_latin_lookalikes,
    is_unspaced_script,
    latin_lookalikes,
    normalize,
)


@dataclass(frozen=True)
class Match:
    """What a message means under the policy."""

    kind: Kind
    keyword: str  # as written in the policy file
    language: str  # the language the reply goes out in
    reply: str | None  # reply id in the catalogs
    account_wide: bool = False  # STOPALL and friends
    found: Found = Found.EXACT  # the whole message, a phrase, or a word inside free text (reasonable mode)
    exception: str | None = None  # an exception that neutralised another opt-out word of the message


@dataclass(frozen=True)
class Finding:
    """A message read under the policy: its match, if any, and the first exception that
    neutralised an opt-out word in it (shown even when nothing else matched)."""

    match: Match | None
    exception: str | None = None


@dataclass(frozen=True)
class _Entry:
    kind: Kind
    keyword: str
    language: str
    universal: bool
    account_wide: bool


@dataclass(frozen=True)
class _Guard:
    """An exception, seen from an opt-out occurrence inside it: the exception's words (or, in
    unspaced scripts, its text), where the occurrence starts in them, and its name as written."""

    around: tuple[str, ...] | str
    offset: int
    exception: str


Occurrence = tuple[str, ...] | str  # an opt-out entry as searched: its words, or its text (unspaced scripts)


@dataclass(frozen=True)
class CountryTable:
    """Everything needed to match messages from one country's numbers."""

    country: str | None
    languages: tuple[str, ...]
    mode: Mode
    exact: dict[str, Match]
    folded: dict[str, Match]
    phrases: dict[str, tuple[tuple[tuple[str, ...], Match], ...]]  # first word → candidates
    substrings: tuple[tuple[str, Match], ...]  # unspaced scripts
    words: dict[str, dict[Kind, str]]  # language → first keyword of each kind, for replies
    guards: dict[Occurrence, tuple[_Guard, ...]] = field(default_factory=dict)  # occurrence → exceptions around it
    lookalikes: dict[str, Match] = field(default_factory=dict)  # opt-outs a message may spell with look-alikes

    def match(self, text: str, mode: Mode | None = None) -> Match | None:
        """What `text` means; `examine` also says which exception it met.  Kept apart because
        every inbound message runs it: the whole-message lookup allocates nothing."""
        normalized = normalize(text)
        if not normalized:
            return None
        found = self.exact.get(normalized)
        if found is None and self.folded:
            found = self.folded.get(fold_diacritics(normalized))
        if found is None and self.lookalikes and not text.isascii() and has_latin_lookalikes(text):
            latin = normalize(latin_lookalikes(text))
            found = self.lookalikes.get(latin) or self.lookalikes.get(fold_diacritics(latin))
        if found is not None or (mode or self.mode) is Mode.EXACT:
            return found
        return self._inside(normalized).match

    def examine(self, text: str, mode: Mode | None = None) -> Finding:
        """The whole message as a keyword first (a message that is only the keyword is never an
        exception); then, in reasonable mode, opt-out keywords and phrases inside it."""
        normalized = normalize(text)
        found = self.match(text, Mode.EXACT) if normalized else None  # as typed: look-alikes need its case
        if found is not None or not normalized or (mode or self.mode) is Mode.EXACT:
            return Finding(found)
        return self._inside(normalized)

    def reply_words(self, language: str) -> dict[str, str]:
        """The keywords a reply in `language` tells people to send (`{{ stop_word }}` ...)."""
        words = self.words.get(language, {})
        return {
            "stop_word": words.get(Kind.STOP, "STOP"),
            "start_word": words.get(Kind.START, "START"),
            "help_word": words.get(Kind.HELP, "HELP"),
        }

    def _inside(self, normalized: str) -> Finding:
        """Reasonable mode: the message as typed, then without accents."""
        exception = None
        for variant in dict.fromkeys((normalized, fold_diacritics(normalized))):
            match, met = self._search(variant)
            exception = exception or met
            if match is not None:
                return Finding(replace(match, exception=exception) if exception else match, exception)
        return Finding(None, exception)

    def _search(self, variant: str) -> tuple[Match | None, str | None]:
        """Every opt-out occurrence in the message; one inside an exception does not count.  The best
        of the others wins (`_better`)."""
        best: Match | None = None
        exception: str | None = None
        words = variant.split(" ")
        for index, word in enumerate(words):
            for tokens, match in self.phrases.get(word, ()):
                if len(tokens) > 1 and tuple(words[index : index + len(tokens)]) != tokens:
                    continue
                around = self._exception_around(tokens, words, index) if tokens in self.guards else None
                if around is not None:
                    exception = exception or around
                elif _better(match, best):
                    best = match
        for needle, match in self.substrings:
            start = variant.find(needle)
            while start >= 0:
                around = self._exception_around(needle, variant, start) if needle in self.guards else None
                if around is not None:
                    exception = exception or around
                elif _better(match, best):
                    best = match
                start = variant.find(needle, start + 1)
        return best, exception

    def _exception_around(self, occurrence: Occurrence, text: list[str] | str, start: int) -> str | None:
        """The first exception that holds this occurrence where it stands in the message, if any."""
        for guard in self.guards[occurrence]:
            begin = start - guard.offset
            if begin < 0:
                continue
            seen = text[begin : begin + len(guard.around)]
            if (tuple(seen) if isinstance(seen, list) else seen) == guard.around:
                return guard.exception
        return None


def _better(match: Match, best: Match | None) -> bool:
    """Of two occurrences, an account-wide keyword (STOPALL) wins, the broader revocation being the
    safe reading; else a phrase beats a keyword, since it says more; else the first one stays."""
    if best is None:
        return True
    if match.account_wide != best.account_wide:
        return match.account_wide
    return best.found is Found.EMBEDDED and match.found is Found.PHRASE


class Matcher:
    """Compiles a policy revision into per-country tables, lazily and once each."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._tables: dict[str | None, CountryTable] = {}

    @property
    def revision(self) -> str:
        return self.policy.revision

    def table(self, country: str | None) -> CountryTable:
        key = country.upper() if country else None
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = compile_country(self.policy, key)
        return table

    def match(self, text: str, country: str | None = None, mode: Mode | None = None) -> Match | None:
        return self.table(country).match(text, mode)


def effective_sets(policy: Policy, country: CountryPolicy | None) -> list[KeywordSet]:
    """The keyword sets that apply to numbers of `country`: global, languages, the country's own."""
    if country is None:
        return list(policy.sets)
    kept = [s for s in policy.sets if s.universal or (s.language, s.kind) not in country.replaces]
    return kept + list(country.sets)


def default_languages(policy: Policy, code: str | None) -> tuple[str, ...]:
    """A country's languages: its file's, else its official languages the policy knows
    (CLDR, through Babel: DK → da, FI → fi, sv), else the global file's."""
    country = policy.countries.get(code) if code else None
    if country is not None:
        return country.languages
    known = set(policy.languages)
    official = [tag.split("_")[0] for tag in get_official_languages(code, de_facto=True)] if code else []
    found = tuple(dict.fromkeys(language for language in official if language in known))
    return found or (policy.language,)


def compile_country(policy: Policy, code: str | None) -> CountryTable:
    country = policy.countries.get(code) if code else None
    languages = default_languages(policy, code)
    sets = effective_sets(policy, country)
    replies: dict[tuple[str, Kind], str | None] = {}
    words: dict[str, dict[Kind, str]] = {}
    for keyword_set in sets:
        # later sets (the country's) override the reply; the first keyword stays the language's own
        if keyword_set.reply is not None or (keyword_set.language, keyword_set.kind) not in replies:
            replies[(keyword_set.language, keyword_set.kind)] = keyword_set.reply
        if keyword_set.keywords:
            words.setdefault(keyword_set.language, {}).setdefault(keyword_set.kind, keyword_set.keywords[0])

    entries: dict[str, list[_Entry]] = {}
    folding: dict[str, bool] = dict(policy.fold_diacritics)
    folded_keys: dict[str, str] = {}  # folded form → normalized key
    searched: list[tuple[str, _Entry, Found]] = []  # what reasonable mode looks for inside messages
    exceptions: list[tuple[str, str]] = []  # (normalized form, as written)
    for keyword_set in sets:
        folds = folding.get(keyword_set.language, False)
        for keyword in keyword_set.keywords:
            entry = _Entry(
                keyword_set.kind,
                keyword,
                keyword_set.language,
                keyword_set.universal,
                keyword in keyword_set.account_wide,
            )
            key = normalize(keyword)
            entries.setdefault(key, []).append(entry)
            if folds:
                folded_keys.setdefault(fold_diacritics(key), key)
            if keyword_set.kind is Kind.STOP and keyword not in keyword_set.exact_only:
                searched.append((key, entry, Found.EMBEDDED))
        for phrase in keyword_set.phrases:
            entry = _Entry(Kind.STOP, phrase, keyword_set.language, keyword_set.universal, False)
            searched.append((normalize(phrase), entry, Found.PHRASE))
        for exception in keyword_set.exceptions:
            key = normalize(exception)
            exceptions += [(form, exception) for form in _forms(key, folds)]

    def resolve(candidates: list[_Entry]) -> Match:
        return _resolve(candidates, languages, replies)

    exact = {key: resolve(found) for key, found in entries.items()}
    folded = {fkey: exact[key] for fkey, key in folded_keys.items()}
    lookalikes = {
        form: exact[key]
        for key, found in entries.items()
        if found[0].kind is Kind.STOP
        for entry in found
        if policy.confusables.get(entry.language, False) and latin_lookalikes(key) == key
        for form in _forms(key, folding.get(entry.language, False))
    }
    phrases: dict[str, list[tuple[tuple[str, ...], Match]]] = {}
    substrings: list[tuple[str, Match]] = []
    for key, entry, how in searched:
        match = exact.get(key) or resolve([entry])
        found_inside = replace(match, found=Found.EMBEDDED if key in exact else how)
        for variant in _forms(key, folding.get(entry.language, False)):
            if is_unspaced_script(variant):
                substrings.append((variant, found_inside))
            else:
                tokens = tuple(variant.split(" "))
                phrases.setdefault(tokens[0], []).append((tokens, found_inside))
    return CountryTable(
        country=code,
        languages=languages,
        mode=(country.mode if country and country.mode else policy.mode),
        exact=exact,
        folded=folded,
        phrases={first: tuple(found) for first, found in phrases.items()},
        substrings=tuple(substrings),
        words=words,
        guards=_guards(exceptions, phrases, [needle for needle, _ in substrings]),
        lookalikes=lookalikes,
    )


def _forms(key: str, folds: bool) -> tuple[str, ...]:
    """A normalized keyword, phrase or exception, and its unaccented form where the language folds."""
    return tuple(dict.fromkeys((key, fold_diacritics(key)) if folds else (key,)))


def _guards(
    exceptions: list[tuple[str, str]], phrases: dict[str, list[tuple[tuple[str, ...], Match]]], needles: list[str]
) -> dict[Occurrence, tuple[_Guard, ...]]:
    """For each opt-out occurrence that some exception contains, those exceptions and where in them it
    stands: at match time an occurrence is checked against its own exceptions only."""
    guards: dict[Occurrence, dict[_Guard, None]] = {}
    for form, exception in exceptions:
        if is_unspaced_script(form):
            for needle in needles:
                start = form.find(needle)
                while start >= 0:
                    guards.setdefault(needle, {})[_Guard(form, start, exception)] = None
                    start = form.find(needle, start + 1)
            continue
        around = tuple(form.split(" "))
        for offset, word in enumerate(around):
            for tokens, _ in phrases.get(word, ()):
                if around[offset : offset + len(tokens)] == tokens:
                    guards.setdefault(tokens, {})[_Guard(around, offset, exception)] = None
    return {occurrence: tuple(found) for occurrence, found in guards.items()}


def _resolve(
    candidates: list[_Entry], languages: tuple[str, ...], replies: dict[tuple[str, Kind], str | None]
) -> Match:
    kind = candidates[0].kind
    account_wide = any(c.account_wide for c in candidates)
    for language in languages:
        for candidate in candidates:
            if candidate.language == language:
                return Match(kind, candidate.keyword, language, replies.get((language, kind)), account_wide)
    universal = next((c for c in candidates if c.universal), None)
    if universal is not None:
        for language in languages:
            if replies.get((language, kind)):
                return Match(kind, universal.keyword, language, replies[(language, kind)], account_wide)
    chosen = min(candidates, key=lambda c: (not c.universal, c.language))
    return Match(kind, chosen.keyword, chosen.language, replies.get((chosen.language, kind)), account_wide)
