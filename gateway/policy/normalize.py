"""Text normalization shared by keywords and messages, so both sides agree.

Messages arrive in every shape: `Stop.`, ` stop!! `, `STOP 🛑`, `ｓｔｏｐ`
(fullwidth), `Arrêt`, `S\u200bTOP`.  Normalizing applies NFKC (fullwidth and
compatibility forms), case folding, drops invisible format characters (Unicode
category Cf: zero-width space and joiners, soft hyphen, word joiner, BOM,
direction marks), turns punctuation, symbols (emoji included), controls and
separators into spaces, and collapses whitespace runs.  A format character is
dropped, not made a space, because it is invisible: `S\u200bTOP` reads STOP.
Diacritic folding is a separate step because only some languages allow it (Hindi
vowel signs are combining marks that change the word).

Letters of other scripts that look Latin (Cyrillic `ЅТОР`, a Greek omicron in
`STΟP`) are yet another step, `latin_lookalikes`, which only languages that
switch `confusables` on use (policies/README.md).
"""

from __future__ import annotations

import re
import string
import unicodedata
from functools import cache

from confusable_homoglyphs.categories import alias
from confusable_homoglyphs.confusables import confusables_data

_ASCII_SPACES = str.maketrans({c: " " for c in string.punctuation + "\t\n\r\x0b\x0c"})

#: Variation selectors and emoji modifiers are marks or symbols that ride along
#: with emoji; they are never part of a keyword.
_ALWAYS_DROP = {0xFE0E, 0xFE0F, 0x20E3}


class _SeparatorTable(dict[int, str | None]):
    """`str.translate` table computed lazily per code point: separators → space."""

    def __missing__(self, codepoint: int) -> str | None:
        category = unicodedata.category(chr(codepoint))
        if category == "Cf":
            value: str | None = None
        elif codepoint in _ALWAYS_DROP or category[0] in "PSZC":
            value = " "
        else:
            value = chr(codepoint)
        self[codepoint] = value
        return value


_SEPARATORS = _SeparatorTable()


def normalize(text: str) -> str:
    """Canonical form of a message or keyword: casefolded words joined by one space."""
    if text.isascii():
        return " ".join(text.translate(_ASCII_SPACES).lower().split())
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.translate(_SEPARATORS).split())


#: Letters whose "accent" is not a combining mark, so decomposition keeps them:
#: Turkish dotless ı (YARDIM lower-cases to yardım), Polish ł, Nordic ø and æ.
_UNDECOMPOSABLE = str.maketrans({"ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "æ": "ae", "œ": "oe"})


def fold_diacritics(text: str) -> str:
    """`arrêt` → `arret`, `yardım` → `yardim`: drop combining marks after canonical
    decomposition, and map the few letters that carry their accent built in."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text.translate(_UNDECOMPOSABLE))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped)


def is_unspaced_script(text: str) -> bool:
    """True for words of scripts written without spaces (Chinese, Japanese, Thai),
    where "whole word" has no meaning and a keyword is found as a substring."""
    for char in text:
        name = unicodedata.name(char, "")
        if name.startswith(("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR")):
            return True
    return False


def has_latin_lookalikes(text: str) -> bool:
    """Whether `latin_lookalikes` would change anything: one regex search, so that the many messages
    in other scripts or accented Latin pay nothing more on the inbound path."""
    return _lookalike_pattern().search(text) is not None


def latin_lookalikes(text: str) -> str:
    """`ЅТОР` (Cyrillic) → `STOP`: letters of other scripts that Unicode's confusables (UTS #39)
    list as looking like a Latin letter become that letter; everything else is kept.  Apply it
    before `normalize`: case matters (Cyrillic Т looks like T, its small т like no Latin letter)."""
    return unicodedata.normalize("NFKC", text).translate(_lookalike_table())


@cache
def _lookalike_pattern() -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(chr(codepoint)) for codepoint in _lookalike_table()) + "]")


@cache
def _lookalike_table() -> dict[int, str]:
    """Code point → ASCII letter, for the non-Latin letters whose confusable is one ASCII letter.
    UTS #39's prototype of the vertical stroke is `l`; for a capital (Greek Ι, Cyrillic І) it is
    read `I`, which is what the capital stands beside in a word.  Built once (about 0.3 s), when a
    policy first needs it."""
    table: dict[int, str] = {}
    for char, entries in confusables_data.items():
        if len(char) != 1 or not unicodedata.category(char).startswith("L"):
            continue
        if alias(char) in ("LATIN", "COMMON", "INHERITED"):
            continue
        targets = {entry["c"] for entry in entries if entry["c"].isascii() and entry["c"].isalpha()}
        if unicodedata.category(char) == "Lu":
            targets = {"I" if target == "l" else target for target in targets}
        if len(targets) == 1:
            table[ord(char)] = targets.pop()
    return table
