"""Reading the send-window and sender-ID settings of the policy files.

Staff write a window as one string, the way a notice would say it: `"Mon-Sat 08:00-22:00"` (days as
names, ranges or comma lists; local hours, start included, end excluded).  Each window keeps the
file and line it came from, so a held or refused message names the exact rule.
"""

from __future__ import annotations

import re
from datetime import time
from functools import cache
from typing import TYPE_CHECKING, Any

import holidays

from gateway.errors import PolicyError
from gateway.policy.model import AlphaSupport, Outside, SendWindows, Window

if TYPE_CHECKING:
    from gateway.policy.loader import _File

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^\s*(?P<days>[A-Za-z][A-Za-z,\- ]*?)\s+(?P<start>\d{2}:\d{2})\s*-\s*(?P<end>\d{2}:\d{2})\s*$")
_KEYS = {"windows", "closed_on_holidays", "outside"}
UNREGISTERED = ("warn", "refuse")


@cache
def subdivisions(country: str) -> frozenset[str]:
    """The state (province, region) codes the `holidays` package knows for `country`; empty when
    it does not know the country."""
    if country not in holidays.list_supported_countries():
        return frozenset()
    return frozenset(holidays.country_holidays(country).subdivisions)


def parse_window(text: str, source: str) -> Window:
    """`"Mon-Fri 09:00-18:00"` → a `Window`; ValueError says what is wrong, in words."""
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f'{text!r} is not a window: write days and hours as in "Mon-Sat 08:00-22:00"')
    days: set[int] = set()
    for part in match["days"].replace(" ", "").lower().split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"{text!r}: {part!r} is not a day or a range of days (Mon, Tue, ... Sun; Mon-Fri)")
        start, end = DAYS.index(first), DAYS.index(last or first)
        days.update(d % 7 for d in range(start, end + (7 if end < start else 0) + 1))
    try:
        opens, closes = time.fromisoformat(match["start"]), time.fromisoformat(match["end"])
    except ValueError:
        raise ValueError(f"{text!r}: hours must be HH:MM between 00:00 and 23:59") from None
    if opens >= closes:
        raise ValueError(f"{text!r}: the window must open before it closes, on the same day")
    return Window(frozenset(days), opens, closes, " ".join(text.split()), source)


def read_quiet_hours(
    file: _File, country: str, errors: list[PolicyError]
) -> tuple[SendWindows | None, dict[str, SendWindows]]:
    """A country file's `[quiet_hours]` table and its `[quiet_hours.<state>]` tables."""
    table = file.data.get("quiet_hours")
    if table is None:
        return None, {}
    if not isinstance(table, dict):
        errors.append(file.error("must be a table: [quiet_hours]", key="quiet_hours"))
        return None, {}
    known = subdivisions(country)
    base = _read_windows(file, "quiet_hours", table, country, None, Outside.HOLD, errors)
    states: dict[str, SendWindows] = {}
    for key, value in table.items():
        if key in _KEYS:
            continue
        if isinstance(value, dict) and key in known:
            found = _read_windows(
                file, f"quiet_hours.{key}", value, country, key, base.outside if base else Outside.HOLD, errors
            )
            if found is not None:
                states[key] = found
        else:
            errors.append(
                file.error(
                    f"unknown key (expected windows, closed_on_holidays, outside, or a [quiet_hours.<state>] table "
                    f"named by a subdivision code of {country}{': ' + ', '.join(sorted(known)) if known else ''})",
                    "quiet_hours",
                    key,
                )
            )
    return base, states


def _read_windows(
    file: _File,
    section: str,
    table: dict[str, Any],
    country: str,
    state: str | None,
    inherited: Outside,
    errors: list[PolicyError],
) -> SendWindows | None:
    count = len(errors)
    source = f"{file.relative}:{file.locate.line(section)}"
    raw = table.get("windows")
    windows: list[Window] = []
    if not isinstance(raw, list) or not raw or not all(isinstance(v, str) for v in raw):
        errors.append(
            file.error('must list at least one window, e.g. windows = ["Mon-Sun 08:00-21:00"]', section, "windows")
        )
    else:
        for text in raw:
            try:
                windows.append(parse_window(text, f"{file.relative}:{file.locate.line(section, 'windows', text)}"))
            except ValueError as exc:
                errors.append(file.error(str(exc), section, "windows", text))
    closed = table.get("closed_on_holidays", False)
    if not isinstance(closed, bool):
        errors.append(file.error("must be true or false", section, "closed_on_holidays"))
    elif closed and country not in holidays.list_supported_countries():
        errors.append(
            file.error(f"the holidays package has no public holidays for {country}", section, "closed_on_holidays")
        )
    outside = table.get("outside", inherited.value)
    if outside not in tuple(Outside):
        errors.append(file.error(f"must be 'hold' or 'refuse', not {outside!r}", section, "outside"))
    if len(errors) > count:
        return None
    return SendWindows(
        f"{country}-{state}" if state else country, country, state, tuple(windows), closed, Outside(outside), source
    )


def read_alpha(file: _File, errors: list[PolicyError]) -> AlphaSupport | None:
    """`alpha_sender`: supported, registration_required or not_supported (true and false, the older
    spelling, mean supported and not_supported); None when the file does not say."""
    value = file.data.get("alpha_sender")
    if value is None:
        return None
    if isinstance(value, bool):
        return AlphaSupport.SUPPORTED if value else AlphaSupport.NOT_SUPPORTED
    if value in tuple(AlphaSupport):
        return AlphaSupport(value)
    errors.append(
        file.error(
            f"must be 'supported', 'registration_required' or 'not_supported', not {value!r}", key="alpha_sender"
        )
    )
    return None


def read_unregistered(file: _File, errors: list[PolicyError]) -> str | None:
    """`unregistered_alpha`: warn (Twilio's behaviour) or refuse; None when the file does not say."""
    value = file.data.get("unregistered_alpha")
    if value is not None and value not in UNREGISTERED:
        errors.append(file.error(f"must be 'warn' or 'refuse', not {value!r}", key="unregistered_alpha"))
        return None
    return value if isinstance(value, str) else None
