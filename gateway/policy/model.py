"""The policy as loaded: plain frozen values, no I/O.

A revision is the union of `global.toml`, every `languages/<lang>.toml` and
every `countries/<CC>.toml`.  Keyword sets are kept per file and per kind, as
written; `policy.matcher` compiles them into per-country lookup tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
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


class AlphaSupport(StrEnum):
    """Whether a country's carriers deliver alphanumeric sender IDs (reference 8.5).  With
    `registration_required` they do for senders registered for the country; an unregistered one is
    warned about (Twilio: error 30018 from the carrier) or refused, as `unregistered_alpha` says."""

    SUPPORTED = "supported"
    REGISTRATION_REQUIRED = "registration_required"
    NOT_SUPPORTED = "not_supported"


class Outside(StrEnum):
    """What happens to a marketing send outside its send window: held until the window opens
    (status `scheduled`), or refused with error 30004."""

    HOLD = "hold"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Window:
    """One line of `windows`: the weekdays (0 = Monday) and the local hours [start, end) it allows."""

    days: frozenset[int]
    start: time
    end: time
    text: str  # as written, e.g. "Mon-Sat 08:00-22:00"
    source: str  # "countries/FR.toml:12"

    def allows(self, weekday: int, moment: time) -> bool:
        return weekday in self.days and self.start <= moment < self.end


@dataclass(frozen=True)
class SendWindows:
    """When marketing may reach numbers of a country, or of one of its states (`name` "US-FL"):
    inside one of `windows` in the recipient's local time, and never on a public holiday of the
    country (or state) when `closed_on_holidays`."""

    name: str
    country: str
    subdivision: str | None
    windows: tuple[Window, ...]
    closed_on_holidays: bool
    outside: Outside
    source: str  # where the table starts, "countries/US.toml:20"


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
    alpha_sender: AlphaSupport | None = None  # may alphanumeric sender IDs reach these numbers
    opt_out_scope: str | None = None  # service | account
    link_channels: bool | None = None  # does an SMS STOP also silence WhatsApp (and back)
    sets: tuple[KeywordSet, ...] = ()
    replaces: frozenset[tuple[str, Kind]] = frozenset()
    unregistered_alpha: str | None = None  # warn | refuse: an alpha sender not registered for the country
    quiet_hours: SendWindows | None = None  # the country's marketing send windows
    state_hours: dict[str, SendWindows] = field(default_factory=dict)  # subdivision code → stricter windows
    mms: bool | None = None  # do these numbers take MMS (else the MMS Converter sends SMS with links)


@dataclass(frozen=True)
class Policy:
    """One revision of the policy files, validated."""

    revision: str
    language: str  # the global file's language
    mode: Mode
    sets: tuple[KeywordSet, ...]  # global first, then each language file
    fold_diacritics: dict[str, bool] = field(default_factory=dict)
    confusables: dict[str, bool] = field(default_factory=dict)  # language → look-alike letters of other scripts count
    countries: dict[str, CountryPolicy] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # relative path → text, for the audit trail
    alpha_sender: AlphaSupport = AlphaSupport.SUPPORTED  # the global default
    opt_out_scope: str = "service"  # Twilio's: an opt-out covers the service the person wrote to
    link_channels: bool = False
    unregistered_alpha: str = "warn"  # Twilio's: the carrier may reject it, the API does not
    mms: bool = True
    lines: dict[tuple[str, str], int] = field(default_factory=dict)  # (file, top-level key) → its line

    def _setting(self, country: str | None, name: str) -> object:
        policy = self.countries.get(country) if country else None
        value = getattr(policy, name) if policy is not None else None
        return getattr(self, name) if value is None else value

    def source_of(self, country: str | None, name: str) -> str:
        """Where the setting `name` for numbers of `country` comes from, as `file:line`: the
        country's file when it sets it, else global.toml; `(default)` when no file writes it.
        Explanations cite it, so staff know which line to change."""
        policy = self.countries.get(country) if country else None
        file = policy.source if policy is not None and getattr(policy, name, None) is not None else "global.toml"
        line = self.lines.get((file, name))
        return f"{file}:{line}" if line is not None else f"{file} (default)"

    def alpha_allowed(self, country: str) -> bool:
        """Whether routing may use an alphanumeric sender for numbers of `country`."""
        return self.alpha_support(country) is not AlphaSupport.NOT_SUPPORTED

    def alpha_support(self, country: str) -> AlphaSupport:
        return AlphaSupport(str(self._setting(country, "alpha_sender")))

    def unregistered_alpha_for(self, country: str) -> str:
        """`warn` or `refuse`: a send from an alpha sender not registered for `country`."""
        return str(self._setting(country, "unregistered_alpha"))

    def scope_for(self, country: str | None) -> str:
        """`service` or `account`: how far a STOP from `country` reaches (STOPALL: always account)."""
        return str(self._setting(country, "opt_out_scope"))

    def mms_allowed(self, country: str) -> bool:
        """Whether numbers of `country` take MMS; media to them otherwise goes through the MMS Converter."""
        return bool(self._setting(country, "mms"))

    def channels_linked(self, country: str | None) -> bool:
        return bool(self._setting(country, "link_channels"))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.language for s in self.sets))
