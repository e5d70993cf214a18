"""The policy as loaded: plain frozen values, no I/O.

A revision is the union of `global.toml`, every `languages/<lang>.toml` and
every `countries/<CC>.toml`.  Keyword sets are kept per file and per kind, as
written; `policy.matcher` compiles them into per-country lookup tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """What a keyword does, in the spelling of Twilio's `OptOutType`."""

    STOP = "STOP"
    START = "START"
    HELP = "HELP"


class Mode(StrEnum):
    """`exact`: the whole message must be a keyword (Twilio).  `reasonable`: an
    opt-out keyword or phrase anywhere in the message also opts out (FCC 24-24),
    unless it stands inside one of the policy's exceptions (`STOP BY`)."""

    EXACT = "exact"
    REASONABLE = "reasonable"


class Found(StrEnum):
    """How sure a match is, as `OptOutMatch` tells the app: the whole message was the keyword
    (`exact`), a phrase of the policy was in it (`phrase`), or a keyword was one word of a longer
    message (`embedded`, the ambiguous one an app may want to confirm by another channel)."""

    EXACT = "exact"
    PHRASE = "phrase"
    EMBEDDED = "embedded"


#: Section names in the files → the kind they define.
SECTIONS: dict[str, Kind] = {"opt_out": Kind.STOP, "opt_in": Kind.START, "help": Kind.HELP}


@dataclass(frozen=True)
class KeywordSet:
    """One `[opt_out]`, `[opt_in]` or `[help]` section of one file."""

    kind: Kind
    language: str
    keywords: tuple[str, ...]
    reply: str | None
    source: str
    phrases: tuple[str, ...] = ()
    account_wide: frozenset[str] = frozenset()
    exact_only: frozenset[str] = frozenset()  # never looked for inside free text (e.g. TD, a bank's name too)
    universal: bool = False  # from global.toml: answered in the sender country's language
    exceptions: tuple[str, ...] = ()  # reasonable mode: phrases in which an opt-out word does not count
    long_reply: str | None = None  # why the reply may take more than one segment (a note, not a warning)


@dataclass(frozen=True)
class CountryPolicy:
    """A country file: its default languages, its mode, and what it adds or replaces."""

    country: str
    languages: tuple[str, ...]
    source: str
    mode: Mode | None = None
    alpha_sender: bool | None = None  # may alphanumeric sender IDs reach these numbers
    opt_out_scope: str | None = None  # service | account
    link_channels: bool | None = None  # does an SMS STOP also silence WhatsApp (and back)
    sets: tuple[KeywordSet, ...] = ()
    replaces: frozenset[tuple[str, Kind]] = frozenset()


@dataclass(frozen=True)
class Policy:
    """One revision of the policy files, validated."""

    revision: str
    language: str  # the global file's language
    mode: Mode
    sets: tuple[KeywordSet, ...]  # global first, then each language file
    fold_diacritics: dict[str, bool] = field(default_factory=dict)
    countries: dict[str, CountryPolicy] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # relative path → text, for the audit trail
    alpha_sender: bool = True  # the global default
    opt_out_scope: str = "service"  # Twilio's: an opt-out covers the service the person wrote to
    link_channels: bool = False

    def _setting(self, country: str | None, name: str) -> object:
        policy = self.countries.get(country) if country else None
        value = getattr(policy, name) if policy is not None else None
        return getattr(self, name) if value is None else value

    def alpha_allowed(self, country: str) -> bool:
        """Whether routing may use an alphanumeric sender for numbers of `country`."""
        return bool(self._setting(country, "alpha_sender"))

    def scope_for(self, country: str | None) -> str:
        """`service` or `account`: how far a STOP from `country` reaches (STOPALL: always account)."""
        return str(self._setting(country, "opt_out_scope"))

    def channels_linked(self, country: str | None) -> bool:
        return bool(self._setting(country, "link_channels"))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.language for s in self.sets))
