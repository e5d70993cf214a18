"""SMS encoding and segment counting that agrees with Twilio's published calculator.

Why this module exists: the gateway must tell a sender, before every send, how many
segments (billable SMS parts) a body will cost, and the number must be the one Twilio
will report.  The rules here are a Python re-statement of Twilio's own open-source
calculator, github.com/TwilioDevEd/message-segment-calculator (``src/libs/Segment.ts``,
``SegmentedMessage.ts``, ``EncodedChar.ts``, ``UnicodeToGSM.ts``,
``SmartEncodingMap.ts``), read and re-implemented rather than copied.

How the calculator counts (and therefore how we count):

* The body is split into grapheme clusters (the calculator uses the npm package
  ``grapheme-splitter``, which implements UAX #29 as of Unicode 10.0).  A CR LF pair,
  which UAX #29 keeps together, is split back into two characters.
* If every grapheme is a single UTF-16 unit found in the GSM-7 table, the message is
  GSM-7; otherwise it is UCS-2.  One non-GSM character makes the whole message UCS-2.
* Each grapheme is an indivisible item.  GSM-7: 7 bits, or 14 bits for the ten
  extension characters (ESC + code).  UCS-2: 16 bits per UTF-16 code unit of the whole
  grapheme, so an emoji (surrogate pair) is 32 bits and a flag or ZWJ family more.
* Items are packed in order into 1120-bit (140-octet) segments.  When the message needs
  a second segment, every segment carries a 48-bit concatenation header, leaving
  1072 bits: 153 GSM-7 septets or 67 UCS-2 units.  A single segment holds 160 / 70.
  An item that does not fit moves whole to the next segment, so an escape pair or a
  surrogate pair is never split.

Deviations from the shared notes (twilio-and-rules.md section 7), following the source:

* U+2017 DOUBLE LOW LINE maps to ``_`` in the current map (an older revision of
  SmartEncodingMap.ts mapped it to ``'``); the notes agree with the current one.
* The notes say "surrogate pairs are never split"; the calculator's unit is the whole
  grapheme cluster, so a base letter with combining marks, a flag (two regional
  indicators) or a ZWJ emoji sequence also moves as one block.
* "Characters" in the calculator is not the Python ``len``: see ``Segmentation``.

Known limit: grapheme-splitter's property tables are Unicode 10; we derive the
Extend/SpacingMark/Control classes from Python's ``unicodedata`` (newer Unicode) and
copy only the emoji-specific Unicode 10 classes exactly.  The two can differ only for
combining marks or format characters assigned after Unicode 10 (2017), and only in
UCS-2 messages.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Segmentation", "segment", "smart_encode", "is_gsm7", "split", "gsm7_bytes", "gsm7_text"]

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# --------------------------------------------------------------------------------------
# GSM-7 alphabet (3GPP TS 23.038 default table, as listed in UnicodeToGSM.ts)
# --------------------------------------------------------------------------------------

#: Characters costing one septet.  Note ``$`` ``@`` ``_`` are in the basic table (at
#: unusual code points) while the grave accent ` is not GSM at all, and ``Ç`` is GSM but
#: ``ç`` is not.  Form feed is not here: it is an extension character.
#: The basic table in code order (a character's septet is its index); 0x1B is the escape to the
#: extension table, no character of its own.
GSM7_CODES = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_BASIC: frozenset[str] = frozenset(GSM7_CODES) - {"\x1b"}

#: Characters costing two septets (ESC 0x1B + code), by their code in the extension table.
#: Still GSM-7, never split.
GSM7_EXTENSION_CODES = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
GSM7_EXTENSION: frozenset[str] = frozenset(GSM7_EXTENSION_CODES)

GSM7_ALL: frozenset[str] = GSM7_BASIC | GSM7_EXTENSION

# One C-level regex scan answers "is there any non-GSM character?" on every send.
_NON_GSM_RE = re.compile("[^" + "".join(re.escape(c) for c in sorted(GSM7_ALL)) + "]")
_EXTENSION_RE = re.compile("[" + "".join(re.escape(c) for c in sorted(GSM7_EXTENSION)) + "]")

# --------------------------------------------------------------------------------------
# Segment geometry (Segment.ts: 140 octets per SMS, 6-octet concatenation header)
# --------------------------------------------------------------------------------------

_SEGMENT_BITS = 1120
_UDH_BITS = 48
_SEPTET = 7
_UCS2_UNIT = 16
GSM7_SINGLE, GSM7_MULTI = 160, 153  # septets
UCS2_SINGLE, UCS2_MULTI = 70, 67  # UTF-16 code units

# --------------------------------------------------------------------------------------
# Smart Encoding map (SmartEncodingMap.ts, current revision, 270 entries)
# --------------------------------------------------------------------------------------


def _build_smart_map() -> dict[int, str]:
    """Build the replacement table as ``{code point: replacement}`` for ``str.translate``.

    Grouped by replacement for readability; each group lists the source code points.
    Quirks kept on purpose because Twilio's calculator (and our promise) has them:
    most exotic spaces become *two* spaces, TAB becomes *seven*, U+2028/2029/2001 one;
    U+2039 (single left-pointing angle quote) becomes ``>`` and U+203A becomes ``<``.
    """
    groups: dict[str, str] = {
        '"': "\u00ab\u00bb\u201c\u201d\u02ba\u02ee\u201f\u201e\u275d\u275e\u301d\u301e\uff02",
        "'": (
            "\u2018\u2019\u02bb\u02c8\u02bc\u02bd\u02b9\u201b\uff07\u00b4\u02ca\u0060"
            "\u02cb\u275b\u275c\u0313\u0314\ufe10\ufe11"
        ),
        "/": "\u00f7\u29f8\u0337\u0338\u2044\u2215\uff0f",
        "1/4": "\u00bc",
        "1/2": "\u00bd",
        "3/4": "\u00be",
        "\\": "\u29f9\u29f5\u20e5\ufe68\uff3c",
        "_": "\u0332\uff3f\u2017",
        "|": "\u20d2\u20d3\u2223\uff5c\u23b8\u23b9\u23d0\u239c\u239f",
        "-": "\u23bc\u23bd\u2015\ufe63\uff0d\u2010\u2043\u2014\u2013\u2022",
        "@": "\ufe6b\uff20",
        "$": "\ufe69\uff04",
        "!": "\u01c3\ufe15\ufe57\uff01",
        "#": "\ufe5f\uff03",
        "%": "\ufe6a\uff05",
        "&": "\ufe60\uff06",
        ",": "\u201a\u0326\ufe50\ufe51\uff0c\uff64\u3001",
        "(": "\u2768\u276a\ufe59\uff08\u27ee\u2985",
        ")": "\u2769\u276b\ufe5a\uff09\u27ef\u2986",
        "*": (
            "\u204e\u2217\u229b\u2722\u2723\u2724\u2725\u2731\u2732\u2733\u273a\u273b"
            "\u273c\u273d\u2743\u2749\u274a\u274b\u29c6\ufe61\uff0a"
        ),
        "+": "\u02d6\ufe62\uff0b",
        ".": "\u3002\ufe52\uff0e\uff61",
        ":": "\u02d0\u02f8\u2982\ua789\ufe13\uff1a",
        ";": "\u204f\ufe14\ufe54\uff1b",
        # Quirk: U+203A (right-pointing) -> "<" and U+2039 (left-pointing) -> ">".
        "<": "\ufe64\uff1c\u203a",
        ">": "\ufe65\uff1e\u2039",
        "=": "\u0347\ua78a\ufe66\uff1d",
        "?": "\ufe16\ufe56\uff1f",
        "^": "\u02c6\u0302\uff3e\u1dcd",
        "{": "\u2774\ufe5b\uff5b",
        "}": "\u2775\ufe5c\uff5d",
        "[": "\uff3b",
        "]": "\uff3d",
        "~": "\u02dc\u02f7\u0303\u0330\u0334\u223c\uff5e",
        "!!": "\u203c",
        "...": "\u2026",
        # Quirk: these spaces (and five C1 controls) become TWO ASCII spaces.
        "  ": (
            "\u00a0\u2000\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f"
            "\u205f\u3000\u008d\u009f\u0080\u0090\u009b"
        ),
        " ": "\u2028\u2029\u2001",
        "       ": "\t",  # Quirk: TAB becomes seven spaces.
        "": ("\u0010\u0000\u0003\u0004\u0017\u0019\u0011\u0012\u0013\u0014\u2060\u200b\ufeff"),
    }
    # Fullwidth digits and capital letters, and small-capital letters.
    for i in range(10):
        groups.setdefault(str(i), "")
        groups[str(i)] += chr(0xFF10 + i)
    small_caps = {
        "A": "\u1d00", "B": "\u0299", "C": "\u1d04", "D": "\u1d05", "E": "\u1d07",
        "F": "\ua730", "G": "\u0262", "H": "\u029c", "I": "\u026a", "J": "\u1d0a",
        "K": "\u1d0b", "L": "\u029f", "M": "\u1d0d", "N": "\u0274", "O": "\u1d0f",
        "P": "\u1d18", "R": "\u0280", "S": "\ua731", "T": "\u1d1b", "U": "\u1d1c",
        "V": "\u1d20", "W": "\u1d21", "Y": "\u028f", "Z": "\u1d22",
    }  # fmt: skip
    for i in range(26):
        letter = chr(ord("A") + i)
        groups[letter] = chr(0xFF21 + i) + small_caps.get(letter, "")

    table: dict[int, str] = {}
    for replacement, sources in groups.items():
        for src in sources:
            assert ord(src) not in table, f"duplicate smart-encoding key U+{ord(src):04X}"
            table[ord(src)] = replacement
    return table


#: ``{code point: replacement}``; 270 entries, the same as Twilio's calculator.
SMART_ENCODING_MAP: dict[int, str] = _build_smart_map()
assert len(SMART_ENCODING_MAP) == 270, len(SMART_ENCODING_MAP)

# --------------------------------------------------------------------------------------
# Grapheme clusters (UAX #29 as implemented by grapheme-splitter, Unicode 10)
# --------------------------------------------------------------------------------------

(_CR, _LF, _CONTROL, _EXTEND, _RI, _SPACINGMARK, _L, _V, _T, _LV, _LVT, _OTHER,
 _PREPEND, _E_BASE, _E_MODIFIER, _ZWJ, _GAZ, _EBG) = range(18)  # fmt: skip


def _ranges(*spans: tuple[int, int] | int) -> frozenset[int]:
    """Expand ``(lo, hi)`` inclusive spans and single code points into a frozenset."""
    out: set[int] = set()
    for s in spans:
        if isinstance(s, tuple):
            out.update(range(s[0], s[1] + 1))
        else:
            out.add(s)
    return frozenset(out)


# The emoji-specific classes are copied exactly from grapheme-splitter's Unicode 10
# tables, because they decide whether ZWJ sequences stay together (e.g. U+1F9B0 red
# hair was not Glue_After_Zwj in Unicode 10, so "woman + ZWJ + red hair" is two
# graphemes for the calculator).
_PREPEND_CPS = _ranges(
    (0x0600, 0x0605), 0x06DD, 0x070F, 0x08E2, 0x0D4E, 0x110BD, (0x111C2, 0x111C3),
    0x11A3A, (0x11A86, 0x11A89), 0x11D46,
)  # fmt: skip
_E_BASE_CPS = _ranges(
    0x261D, 0x26F9, (0x270A, 0x270D), 0x1F385, (0x1F3C2, 0x1F3C4), 0x1F3C7,
    (0x1F3CA, 0x1F3CC), (0x1F442, 0x1F443), (0x1F446, 0x1F450), 0x1F46E,
    (0x1F470, 0x1F478), 0x1F47C, (0x1F481, 0x1F483), (0x1F485, 0x1F487), 0x1F4AA,
    (0x1F574, 0x1F575), 0x1F57A, 0x1F590, (0x1F595, 0x1F596), (0x1F645, 0x1F647),
    (0x1F64B, 0x1F64F), 0x1F6A3, (0x1F6B4, 0x1F6B6), 0x1F6C0, 0x1F6CC,
    (0x1F918, 0x1F91C), (0x1F91E, 0x1F91F), 0x1F926, (0x1F930, 0x1F939),
    (0x1F93D, 0x1F93E), (0x1F9D1, 0x1F9DD),
)  # fmt: skip
_GAZ_CPS = _ranges(
    0x2640, 0x2642, (0x2695, 0x2696), 0x2708, 0x2764, 0x1F308, 0x1F33E, 0x1F373,
    0x1F393, 0x1F3A4, 0x1F3A8, 0x1F3EB, 0x1F3ED, 0x1F48B, (0x1F4BB, 0x1F4BC),
    0x1F527, 0x1F52C, 0x1F5E8, 0x1F680, 0x1F692,
)  # fmt: skip
# Spacing-combining (Mc) characters that UAX #29 puts in Extend (Other_Grapheme_Extend).
_MC_EXTEND = _ranges(
    0x09BE, 0x09D7, 0x0B3E, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, (0x0CD5, 0x0CD6), 0x0D3E,
    0x0D57, 0x0DCF, 0x0DDF, 0x1D165, (0x1D16E, 0x1D172), (0x302E, 0x302F),
)  # fmt: skip
# Mc characters UAX #29 excludes from SpacingMark (they stay Other).
_MC_NOT_SPACING = _ranges(
    0x102B, 0x102C, 0x1038, (0x1062, 0x1064), (0x1067, 0x106D), 0x1083,
    (0x1087, 0x108C), 0x108F, (0x109A, 0x109C), 0x1A61, 0x1A63, 0x1A64, 0xAA7B, 0xAA7D, 0x11720, 0x11721,
)  # fmt: skip
_CN_CONTROL = _ranges(0x2065, (0xFFF0, 0xFFF8), 0xE0000, (0xE0002, 0xE001F),
                      (0xE0080, 0xE00FF), (0xE01F0, 0xE0FFF))  # fmt: skip


@lru_cache(maxsize=4096)
def _gcb(cp: int) -> int:
    """Grapheme_Cluster_Break class of one code point (Unicode 10 semantics)."""
    if cp in _PREPEND_CPS:
        return _PREPEND
    if cp == 0x0D:
        return _CR
    if cp == 0x0A:
        return _LF
    if cp == 0x200D:
        return _ZWJ
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return _RI
    if 0x1F3FB <= cp <= 0x1F3FF:
        return _E_MODIFIER
    if cp in _E_BASE_CPS:
        return _E_BASE
    if cp in _GAZ_CPS:
        return _GAZ
    if 0x1F466 <= cp <= 0x1F469:
        return _EBG
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return _L
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return _V
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return _T
    if 0xAC00 <= cp <= 0xD7A3:
        return _LV if (cp - 0xAC00) % 28 == 0 else _LVT
    if cp == 0x200C or cp in (0xFF9E, 0xFF9F) or 0xE0020 <= cp <= 0xE007F or cp in _MC_EXTEND:
        return _EXTEND
    cat = unicodedata.category(chr(cp))
    if cat in ("Mn", "Me"):
        return _EXTEND
    if cat == "Mc":
        return _OTHER if cp in _MC_NOT_SPACING else _SPACINGMARK
    if cp in (0x0E33, 0x0EB3):
        return _SPACINGMARK
    if cat in ("Cc", "Cf", "Zl", "Zp", "Cs") or (cat == "Cn" and cp in _CN_CONTROL):
        return _CONTROL
    return _OTHER


def _should_break(start: int, mid: list[int], nxt: int) -> bool:
    """Whether grapheme-splitter breaks before ``nxt`` in a cluster ``start + mid``.

    A port of its ``shouldBreak`` (including its lookahead form of GB10/GB12-13), so
    edge cases such as a skin-tone modifier after a non-emoji break the same way.
    """
    allc = [start, *mid, nxt]
    previous = allc[-2]
    # GB10 lookahead: (E_Base | EBG) Extend* x E_Modifier, otherwise break.
    if _E_MODIFIER in allc:
        i = len(allc) - 1 - allc[::-1].index(_E_MODIFIER)
        if i > 1 and all(c == _EXTEND for c in allc[1:i]) and start not in (_EXTEND, _E_BASE, _EBG):
            return True
    # GB12/GB13 lookahead (both of its return values are truthy breaks).
    if _RI in allc:
        i = len(allc) - 1 - allc[::-1].index(_RI)
        if i > 0 and all(c == _RI for c in allc[1:i]) and previous not in (_PREPEND, _RI):
            return True
    if previous == _CR and nxt == _LF:  # GB3
        return False
    if previous in (_CONTROL, _CR, _LF):  # GB4
        return True
    if nxt in (_CONTROL, _CR, _LF):  # GB5
        return True
    if previous == _L and nxt in (_L, _V, _LV, _LVT):  # GB6
        return False
    if previous in (_LV, _V) and nxt in (_V, _T):  # GB7
        return False
    if previous in (_LVT, _T) and nxt == _T:  # GB8
        return False
    if nxt in (_EXTEND, _ZWJ, _SPACINGMARK):  # GB9, GB9a
        return False
    if previous == _PREPEND:  # GB9b
        return False
    # GB10, with grapheme-splitter's own way of finding the last non-Extend.
    pni = (len(allc) - 1 - allc[::-1].index(_EXTEND) - 1) if _EXTEND in allc else len(allc) - 2
    if allc[pni] in (_E_BASE, _EBG) and all(c == _EXTEND for c in allc[pni + 1 : -1]) and nxt == _E_MODIFIER:
        return False
    if previous == _ZWJ and nxt in (_GAZ, _EBG):  # GB11 (Unicode 10 form)
        return False
    if _RI in mid:  # GB12/13
        return True
    if previous == _RI and nxt == _RI:
        return False
    return True  # GB999


def _graphemes(text: str) -> list[str]:
    """Split like the calculator: grapheme-splitter clusters, then CR LF split in two."""
    out: list[str] = []
    n = len(text)
    i = 0
    while i < n:
        start = _gcb(ord(text[i]))
        mid: list[int] = []
        j = i + 1
        while j < n:
            nxt = _gcb(ord(text[j]))
            if _should_break(start, mid, nxt):
                break
            mid.append(nxt)
            j += 1
        cluster = text[i:j]
        if cluster == "\r\n":
            out += ["\r", "\n"]
        else:
            out.append(cluster)
        i = j
    return out


def _utf16_len(s: str) -> int:
    """Length in UTF-16 code units, the unit JavaScript (and UCS-2 billing) counts."""
    return len(s) + sum(1 for c in s if ord(c) > 0xFFFF)


# BMP code points that can join a neighbour into a multi-character grapheme.  If a
# UCS-2 text has none of these and nothing outside the BMP, each character is its own
# one-unit grapheme and segments follow from arithmetic.  CR, LF and other controls
# are absent on purpose: they always stand alone (CR LF is split again, see above).
# Precomputed once at import (about 20 ms) so the per-send check is one regex scan.
_JOINING_CLASSES = frozenset({_EXTEND, _SPACINGMARK, _ZWJ, _PREPEND, _L, _V, _T, _E_MODIFIER})


def _build_slow_ucs2_re() -> re.Pattern[str]:
    """Regex matching any character that may need the grapheme-aware walk."""
    spans: list[tuple[int, int]] = []
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        if _gcb.__wrapped__(cp) in _JOINING_CLASSES:
            if spans and spans[-1][1] == cp - 1:
                spans[-1] = (spans[-1][0], cp)
            else:
                spans.append((cp, cp))
    parts = [re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in spans]
    parts.append("\U00010000-\U0010ffff")
    return re.compile("[" + "".join(parts) + "]")


_UCS2_SLOW_RE = _build_slow_ucs2_re()

# --------------------------------------------------------------------------------------
# Segment packing
# --------------------------------------------------------------------------------------


def _walk(sizes: list[int]) -> int:
    """Count segments exactly as ``SegmentedMessage._buildSegments`` does (see `_pack`)."""
    return len(_pack(sizes))


def _pack(sizes: list[int]) -> list[int]:
    """How many items each segment holds, as ``SegmentedMessage._buildSegments`` packs them.

    ``sizes`` are item sizes in bits.  Segment 1 starts without a header; on the first
    overflow it gets a 48-bit header and gives back whole trailing items (to the new
    segment) until it fits again.  Later segments start with the header.  An item is
    never split; an item bigger than a whole segment (a huge grapheme) still goes into
    a fresh segment, possibly leaving the previous one holding only its header, which
    is what the calculator does.
    """
    counts = [0]
    first: list[int] = []  # item sizes in segment 1 while it has no header
    header_added = False
    used = 0
    for size in sizes:
        if _SEGMENT_BITS - used < size:
            counts.append(0)
            if not header_added:
                total = sum(first) + _UDH_BITS
                moved = 0
                while total > _SEGMENT_BITS:  # Segment.addHeader: while free < 0, pop
                    last = first.pop()
                    total -= last
                    moved += last
                    counts[0] -= 1
                    counts[1] += 1
                header_added = True
                used = _UDH_BITS + moved
            else:
                used = _UDH_BITS
        used += size
        counts[-1] += 1
        if not header_added:
            first.append(size)
    return counts


def _arith(units: int, single: int, multi: int) -> int:
    """Segments for items of one unit each: 1 if it fits alone, else ceil(units/multi)."""
    if units <= single:
        return 1
    return -(-units // multi)


def _item_sizes(text: str, encoding: str) -> list[int]:
    """Item sizes in bits, one per calculator 'encoded char'."""
    if encoding == GSM7:
        return [2 * _SEPTET if c in GSM7_EXTENSION else _SEPTET for c in text]
    return [_UCS2_UNIT * _utf16_len(g) for g in _graphemes(text)]


def _segments_by_walk(text: str) -> int:
    """Reference: segments from the item-by-item walk, never the arithmetic shortcut."""
    encoding = GSM7 if is_gsm7(text) else UCS2
    return _walk(_item_sizes(text, encoding))


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segmentation:
    """How a body will be sent and billed.

    ``encoding``: "GSM-7" or "UCS-2".
    ``segments``: number of SMS parts.  An empty body counts as 1, as in the calculator
    (it always starts with one empty segment); Twilio rejects empty bodies anyway.
    ``characters``: the calculator's ``numberOfCharacters``: for GSM-7 the number of
    septets (each extension character such as € counts 2); for UCS-2 the number of
    grapheme clusters (an emoji, a flag or a letter with combining accents counts 1).
    ``text``: the body as it would be sent (after smart encoding when requested).
    """

    encoding: str
    segments: int
    characters: int
    text: str


def is_gsm7(text: str) -> bool:
    """True if every character is in the GSM-7 basic or extension table.

    This alone decides the encoding: one character outside the table makes the whole
    message UCS-2.  The empty string is GSM-7.
    """
    return _NON_GSM_RE.search(text) is None


def smart_encode(text: str) -> str:
    """Apply Twilio's Smart Encoding replacements, character by character.

    Curly quotes, dashes, ellipsis, exotic spaces, fullwidth forms and similar become
    their GSM-7 look-alikes, with the calculator's quirks (see ``SMART_ENCODING_MAP``).
    Characters without a replacement (emoji, Hangul, ç, ...) are left as they are.
    """
    return text.translate(SMART_ENCODING_MAP)


def segment(text: str, smart: bool = False) -> Segmentation:
    """Encoding, segment count and character count for ``text``, as Twilio counts them.

    With ``smart=True`` the text is first passed through ``smart_encode`` (what a
    Messaging Service with Smart Encoding enabled does before sending).
    Pure GSM-7 without extension characters, and UCS-2 text where every character is a
    lone BMP character, are computed arithmetically; anything else (extension
    characters, surrogate pairs, combining marks, ZWJ sequences) uses the walk.
    """
    if smart:
        text = smart_encode(text)
    if _NON_GSM_RE.search(text) is None:
        extensions = len(_EXTENSION_RE.findall(text))
        septets = len(text) + extensions
        if extensions == 0 or septets <= GSM7_SINGLE:
            segments = _arith(septets, GSM7_SINGLE, GSM7_MULTI)
        else:
            segments = _walk(_item_sizes(text, GSM7))
        return Segmentation(GSM7, segments, septets, text)
    if _UCS2_SLOW_RE.search(text) is None:
        units = len(text)
        return Segmentation(UCS2, _arith(units, UCS2_SINGLE, UCS2_MULTI), units, text)
    graphemes = _graphemes(text)
    widths = [_utf16_len(g) for g in graphemes]
    total = sum(widths)
    if total <= UCS2_SINGLE:
        segments = 1
    else:
        segments = _walk([_UCS2_UNIT * u for u in widths])
    return Segmentation(UCS2, segments, len(graphemes), text)


def split(text: str) -> tuple[str, list[str]]:
    """The encoding and the parts a sender sends `text` in (already smart-encoded, as stored):
    the parts `segment` counted, cut where the calculator cuts, never inside a character or a
    grapheme, so a message goes in exactly the segments it was billed for."""
    if is_gsm7(text):
        encoding, items = GSM7, list(text)
    else:
        encoding, items = UCS2, _graphemes(text)
    parts, start = [], 0
    for count in _pack(_item_sizes(text, encoding)):
        parts.append("".join(items[start : start + count]))
        start += count
    return encoding, parts


_GSM7_SEPTET = {c: code for code, c in enumerate(GSM7_CODES) if c != "\x1b"}
_GSM7_EXTENDED = {code: c for c, code in GSM7_EXTENSION_CODES.items()}


def gsm7_bytes(text: str) -> bytes:
    """GSM-7 text as unpacked septets, one per octet (SMPP's data_coding 0); extension characters
    as ESC and their code."""
    out = bytearray()
    for c in text:
        if c in GSM7_EXTENSION_CODES:
            out += bytes((0x1B, GSM7_EXTENSION_CODES[c]))
        else:
            out.append(_GSM7_SEPTET[c])
    return bytes(out)


def gsm7_text(data: bytes) -> str:
    """Unpacked GSM-7 septets as text; an escape without a known code reads as a space, as 3GPP TS
    23.038 asks of a receiver, and a septet above 0x7F as U+FFFD."""
    out, escaped = [], False
    for octet in data:
        if escaped:
            out.append(_GSM7_EXTENDED.get(octet, " "))
            escaped = False
        elif octet == 0x1B:
            escaped = True
        else:
            out.append(GSM7_CODES[octet] if octet < 0x80 else "\ufffd")
    return "".join(out)
