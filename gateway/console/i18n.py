"""The console's own gettext domain, `console`, and the choice of language per request.

Its catalogs sit beside the confirmations' (`locales/<lang>/LC_MESSAGES/console.po`, template
`locales/console.pot`) but in a domain of their own, so translating the console never touches
`gateway.po`.  As for the confirmations, the `.po` files are read with Babel when first needed
and again whenever one changes on disk: no compile step.  Each language gets its own Jinja2
environment with that catalog installed (`{% trans %}` and `_()`), built once per catalog edit.

The language is `?lang=` when it names a catalog (and is then remembered in a cookie), else
the cookie, else the best of `Accept-Language`, else English, the source language.
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from gateway.compliance.reasons import N_

DOMAIN = "console"
SOURCE_LANGUAGE = "en"
COOKIE = "console_lang"
TEMPLATES = Path(__file__).parent / "templates"
#: The words the pages show of stored values (a message's status, a gate's verdict, the error
#: message the gateway itself gives a message), in the source language: the `word` filter says
#: them in the page's; any other value is shown as it is.
WORDS = {
    "accepted": N_("accepted"),
    "scheduled": N_("scheduled"),
    "queued": N_("queued"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "delivered": N_("delivered"),
    "undelivered": N_("undelivered"),
    "failed": N_("failed"),
    "canceled": N_("canceled"),
    "read": N_("read"),
    "received": N_("received"),
    "unknown": N_("unknown"),
    "pass": N_("pass"),
    "refuse": N_("refuse"),
    "hold": N_("hold"),
    "warn": N_("warn"),
    "skip": N_("skip"),
    "The recipient opted out.": N_("The recipient opted out."),  # outbox.messages.cancel_opted_out
}


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags of an Accept-Language header, most wanted first (q=0 means "not this")."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag.strip().replace("_", "-").lower()))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(wanted: list[str], available: frozenset[str]) -> str | None:
    """The first wanted tag we have, trying `fr-ca` then `fr`."""
    for tag in wanted:
        for candidate in (tag, tag.split("-", 1)[0]):
            if candidate in available:
                return candidate
    return None


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int]
    translations: NullTranslations
    environment: jinja2.Environment


class Languages:
    """The console's languages and a Jinja2 environment for each, following edits of the catalogs."""

    def __init__(self, locales_dir: Path) -> None:
        self.locales_dir = Path(locales_dir)
        self._lock = threading.Lock()
        self._loaded: dict[str, _Loaded] = {}

    def available(self) -> frozenset[str]:
        found = {p.parent.parent.name for p in self.locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
        return frozenset(found | {SOURCE_LANGUAGE})

    def choose(self, query: str | None, cookie: str | None, accept_language: str | None) -> str:
        available = self.available()
        for explicit in (query, cookie):
            if explicit and (chosen := negotiate([explicit.lower()], available)):
                return chosen
        return negotiate(parse_accept_language(accept_language), available) or SOURCE_LANGUAGE

    def environment(self, language: str) -> jinja2.Environment:
        return self._load(language).environment

    def translations(self, language: str) -> NullTranslations:
        return self._load(language).translations

    def _load(self, language: str) -> _Loaded:
        path = self.locales_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        try:
            status = os.stat(path)
            stamp = (status.st_mtime_ns, status.st_size)
        except OSError:
            stamp = (0, 0)
        loaded = self._loaded.get(language)
        if loaded is None or loaded.stamp != stamp:
            translations = _translations(path, language)
            with self._lock:
                loaded = self._loaded[language] = _Loaded(stamp, translations, _environment(translations))
        return loaded


def _translations(path: Path, language: str) -> NullTranslations:
    """The catalog as gettext reads it, compiled in memory (fuzzy entries left out, as pybabel does)."""
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(fp=compiled, domain=DOMAIN)


def _environment(translations: NullTranslations) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The i18n extension adds install_gettext_translations to the environment at run time.
    environment.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    environment.filters.update(
        utc=utc, duration=duration, word=lambda value: translations.gettext(WORDS[value]) if value in WORDS else value
    )
    return environment


def utc(moment: datetime | str | None) -> str:
    """A moment as staff read it in an audit: `2026-11-23 14:05:09 UTC` (ISO text is accepted too)."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    """`0.4 s`, `42 s`, `3 min 20 s`, `5 h 12 min`, `2 d 3 h`."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    for unit, size, smaller, small_size in (("d", 86400, "h", 3600), ("h", 3600, "min", 60), ("min", 60, "s", 1)):
        if whole >= size:
            rest = (whole % size) // small_size
            return f"{whole // size} {unit}" + (f" {rest} {smaller}" if rest else "")
    return f"{whole} s"
