"""Time as the gateway keeps it (aware UTC), and the two date formats Twilio's APIs speak.

Every reading of the time goes through one `Clock`, `CLOCK`: the system's UTC
time plus an offset that production never moves.  Tests move it instead of
waiting: `CLOCK.set(moment)` ("it is 21:30 in New York") and
`CLOCK.advance(seconds)` (past a message's due time).  Time keeps running from
the moment set, so leases, retries and timers behave as they do in production,
and every part of the process (the API, the dispatcher, the forwarder, the
database rows they write) reads the same time.  Parts that wait for a moment
on this clock (held messages, whose due time is in the database) subscribe
with `CLOCK.on_change`, so a jump wakes them at once instead of at their next
poll.  Move it backwards only before anything is written (leases and claims
written at a later time would look valid for longer).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    """The time source of a gateway process: system UTC time, shifted by an offset tests control."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], object]] = []

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def set(self, moment: datetime) -> None:
        """From now on it is `moment` (aware), and time runs on from there."""
        if moment.tzinfo is None:
            raise ValueError("Clock.set needs an aware datetime")
        self._move(moment - datetime.now(UTC))

    def advance(self, by: timedelta | float) -> None:
        """Jump forward by `by` (a timedelta or seconds)."""
        self._move(self._offset + (by if isinstance(by, timedelta) else timedelta(seconds=by)))

    def reset(self) -> None:
        """Back to the system's time."""
        self._move(timedelta(0))

    def on_change(self, listener: Callable[[], object]) -> Callable[[], None]:
        """Call `listener` after each move (in the thread that moved the clock: an asyncio listener
        hands itself to its loop with `call_soon_threadsafe`); returns the function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def _move(self, offset: timedelta) -> None:
        with self._lock:
            self._offset = offset
            listeners = list(self._listeners)
        for listener in listeners:
            listener()


#: The process's clock; `utcnow()` reads it.
CLOCK = Clock()


def utcnow() -> datetime:
    return CLOCK.now()


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's 2010 API dates: `Thu, 30 Jul 2015 20:12:31 +0000`, always UTC.  What
    `email.utils.format_datetime` writes, in English whatever the locale, at a fifth of its cost
    (each message in an answer has three)."""
    if moment is None:
        return None
    m = moment.astimezone(UTC)
    return (
        f"{_DAYS[m.weekday()]}, {m.day:02d} {_MONTHS[m.month - 1]} {m.year:04d} "
        f"{m.hour:02d}:{m.minute:02d}:{m.second:02d} +0000"
    )


def iso8601(moment: datetime | None) -> str | None:
    """The v1 APIs' dates: `2015-07-30T20:12:31Z`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso8601(text: str) -> datetime:
    """An ISO 8601 moment with its UTC offset (`2026-12-01T21:30:00-05:00`, `...Z`), as aware UTC;
    ValueError for anything else, a moment without an offset included (its time zone is unknown)."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return moment.astimezone(UTC)
