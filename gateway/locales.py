"""Localized confirmations: Babel catalogs rendered with Jinja2.

The English texts below are the gettext source (`pybabel extract` reads them
through the `N_` marker); each language's `locales/<lang>/LC_MESSAGES/gateway.po`
translates them.  Catalogs are read with Babel at load time, so a translator's
edit needs no compile step.  Translations are Jinja2 templates: `{{ brand }}`
and `{{ help_contact }}` come from the service, `{{ stop_word }}`,
`{{ start_word }}` and `{{ help_word }}` from the policy, so a confirmation
always names a keyword that really works in its language.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from babel.messages.pofile import read_po

DOMAIN = "gateway"
FALLBACK_LANGUAGE = "en"


def N_(text: str) -> str:
    """Mark a string for `pybabel extract` without translating it here."""
    return text


#: Reply ids (what a policy file's `reply =` names) → English source text.
REPLIES: Mapping[str, str] = {
    "opt_out": N_(
        "{{ brand }}: You are unsubscribed and will get no more messages from us. "
        "Reply {{ start_word }} to resubscribe. Help: {{ help_contact }}"
    ),
    "opt_in": N_(
        "{{ brand }}: You are subscribed again. Msg frequency varies. "
        "Msg & data rates may apply. Reply {{ help_word }} for help, {{ stop_word }} to opt out."
    ),
    "help": N_(
        "{{ brand }}: Help at {{ help_contact }}. Msg & data rates may apply. "
        "Reply {{ stop_word }} to opt out, {{ start_word }} to opt back in."
    ),
}

_JINJA = jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


def locale_chain(locale: str) -> list[str]:
    """`es_MX` → `["es_MX", "es", "en"]`: the catalogs to try, most specific first."""
    tag = locale.replace("-", "_")
    chain = [tag]
    base = tag.split("_", 1)[0].lower()
    if base != tag:
        chain.append(base)
    if FALLBACK_LANGUAGE not in chain:
        chain.append(FALLBACK_LANGUAGE)
    return chain


@dataclass(frozen=True)
class Catalogs:
    """Every language's translations of the reply texts, keyed by language tag."""

    translations: Mapping[str, Mapping[str, str]]
    paths: Mapping[str, Path] = field(default_factory=dict)
    revision: str = ""

    @classmethod
    def load(cls, directory: Path) -> Catalogs:
        translations: dict[str, dict[str, str]] = {FALLBACK_LANGUAGE: {text: text for text in REPLIES.values()}}
        paths: dict[str, Path] = {}
        digest = hashlib.sha256()
        for po in sorted(Path(directory).glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
            language = po.parent.parent.name
            data = po.read_bytes()
            digest.update(language.encode() + b"\0" + data)
            with po.open("rb") as handle:
                catalog = read_po(handle, locale=None, domain=DOMAIN)
            table = dict(translations.get(language, {}))
            for message in catalog:
                if message.id and isinstance(message.string, str) and message.string and not message.fuzzy:
                    table[str(message.id)] = message.string
            translations[language] = table
            paths[language] = po
        return cls(translations=translations, paths=paths, revision=digest.hexdigest()[:12])

    def has_translation(self, language: str, reply_id: str) -> bool:
        return REPLIES.get(reply_id, "\0") in self.translations.get(language, {})

    def template(self, reply_id: str, locale: str) -> tuple[str, str]:
        """The translated template of `reply_id` and the language it was found in."""
        source = REPLIES[reply_id]
        for language in locale_chain(locale):
            text = self.translations.get(language, {}).get(source)
            if text:
                return text, language
        return source, FALLBACK_LANGUAGE

    def render(self, reply_id: str, locale: str, variables: Mapping[str, str]) -> str:
        """Render the reply in the best available language; whitespace runs collapse to one space."""
        text, _ = self.template(reply_id, locale)
        return " ".join(_compile(text).render(**variables).split())


_COMPILED: dict[str, jinja2.Template] = {}


def _compile(text: str) -> jinja2.Template:
    template = _COMPILED.get(text)
    if template is None:
        template = _COMPILED[text] = _JINJA.from_string(text)
    return template
