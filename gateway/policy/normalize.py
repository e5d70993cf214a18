"""Text normalization shared by keywords and messages, so both sides agree.

Messages arrive in every shape: `Stop.`, ` stop!! `, `STOP 🛑`, `ｓｔｏｐ`
(fullwidth), `Arrêt`.  Normalizing applies NFKC (fullwidth and compatibility
forms), case folding, turns punctuation, symbols (emoji included), controls and
separators into spaces, and collapses whitespace runs.  Diacritic folding is a
separate step because only some languages allow it (Hindi vowel signs are
combining marks that change the word).
"""

from __future__ import annotations

import string
import unicodedata

_ASCII_SPACES = str.maketrans({c: " " for c in string.punctuation + "\t\n\r\x0b\x0c"})

#: Variation selectors and emoji modifiers are marks or symbols that ride along
#: with emoji; they are never part of a keyword.
_ALWAYS_DROP = {0xFE0E, 0xFE0F, 0x20E3}


class _SeparatorTable(dict[int, str | None]):
    """`str.translate` table computed lazily per code point: separators → space."""

    def __missing__(self, codepoint: int) -> str | None:
        category = unicodedata.category(chr(codepoint))
        if codepoint in _ALWAYS_DROP or category[0] in "PSZC":
            value: str | None = " "
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
