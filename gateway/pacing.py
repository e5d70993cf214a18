"""Pacing decisions: when may a sender send its next message.  Pure: time comes in as a number.

A sender's MPS counts segments.  The promise is strict, and it holds where it
is measured, at the provider: in no one-second window do the segments it
receives from one sender exceed the MPS.

Why sends count until they *finish*.  We know when a request starts and when
its answer arrives, never when the provider received it; it lies between.  So
a send occupies the window from its start until one second after its answer.
Then, for any one-second window at the provider, take the last message
received in it, j: every other message i received in that window finished at
or after the window opened, so less than a second before j started, and was
therefore counted when j was admitted.  At most MPS segments are admitted at
once, so at most MPS arrive in the window, whatever the network did.  A small
`margin` covers clock granularity.  The cost is the round-trip time per
window, about 1% of throughput on a LAN.

A message with more segments than the MPS can never fit in one second: it is
sent alone and then holds the window for as many seconds as its segments need.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MARGIN = 0.005


@dataclass
class SlidingWindow:
    mps: int
    margin: float = MARGIN
    _done: deque[tuple[float, int]] = field(default_factory=deque)  # (release time, segments), sorted
    _load: int = 0  # segments of finished sends still in the window
    _in_flight: int = 0  # segments of sends not yet answered

    def earliest(self, now: float, segments: int) -> float | None:
        """The first time ≥ `now` at which `segments` more fit, or None if that depends on a
        send still in flight (wait for `finish`, then ask again)."""
        self._expire(now)
        need = self._cost(segments)
        if self._in_flight + self._load + need <= self.mps:
            return now
        if self._in_flight + need > self.mps:
            return None
        running = self._in_flight + self._load
        for release, count in self._done:
            running -= count
            if running + need <= self.mps:
                return max(now, release)
        return now  # unreachable: with nothing finished in the window, the check above passed

    def start(self, segments: int) -> None:
        """Count a send from the moment it is handed to the provider."""
        self._in_flight += self._cost(segments)

    def finish(self, at: float, segments: int) -> None:
        """The provider answered at `at`: the send keeps its place for one more window."""
        cost = self._cost(segments)
        self._in_flight -= cost
        width = (1.0 + self.margin) * max(1.0, segments / self.mps)
        release = max(at + width, self._done[-1][0]) if self._done else at + width  # keep releases sorted
        self._done.append((release, cost))
        self._load += cost

    def _cost(self, segments: int) -> int:
        return min(segments, self.mps)

    def _expire(self, now: float) -> None:
        while self._done and self._done[0][0] <= now:
            self._load -= self._done.popleft()[1]


def backoff(
    attempt: int, retry_after: float | None, *, base: float = 1.0, cap: float = 60.0, jitter: float = 0.0
) -> float:
    """Seconds to wait before retry number `attempt` (1-based): the provider's Retry-After
    when it gave one, else exponential from `base`, capped, plus the caller's jitter."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return min(cap, base * 2.0 ** (attempt - 1)) + jitter


def default_mps(kind: str, country: str | None) -> int:
    """Twilio's default throughput per sender type (segments per second)."""
    if kind == "short_code":
        return 100
    if kind == "toll_free":
        return 3
    if kind == "alpha":
        return 10
    if kind == "whatsapp":
        return 80
    return 1 if country in ("US", "CA") else 10
