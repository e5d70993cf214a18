"""Pacing decisions: when may a sender send its next message.  Pure: time comes in as a number.

A sender's MPS counts segments.  The promise is strict: in no one-second
window do the segments sent exceed the MPS.  `SlidingWindow` keeps the send
times of the last window and answers the earliest moment the next message
fits.  The window is slightly longer than a second (`margin`) so that jitter
between our send and the provider's receipt cannot make a receiver's count
exceed the MPS; it costs about 1% of throughput.

A message with more segments than the MPS can never fit in one second: it is
sent alone, after the window is empty, and then holds the window for as many
windows as its segments need.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MARGIN = 0.01


@dataclass
class SlidingWindow:
    mps: int
    margin: float = MARGIN
    _sent: deque[tuple[float, int]] = field(default_factory=deque)  # (release time, segments)
    _load: int = 0

    def earliest(self, now: float, segments: int) -> float:
        """The first time ≥ `now` at which `segments` more keep the window within the MPS."""
        self._expire(now)
        need = min(segments, self.mps)
        if self._load + need <= self.mps:
            return now
        running = self._load
        for release, count in self._sent:
            running -= count
            if running + need <= self.mps:
                return max(now, release)
        return now  # unreachable: an empty window always fits

    def record(self, at: float, segments: int) -> None:
        """Count a send made at `at`."""
        width = (1.0 + self.margin) * max(1.0, segments / self.mps)
        release = max(at + width, self._sent[-1][0]) if self._sent else at + width  # keep releases sorted
        counted = min(segments, self.mps)
        self._sent.append((release, counted))
        self._load += counted

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0][0] <= now:
            self._load -= self._sent.popleft()[1]


def backoff(attempt: int, retry_after: float | None, *, base: float = 1.0, cap: float = 60.0,
            jitter: float = 0.0) -> float:
    """Seconds to wait before retry number `attempt` (1-based): the provider's Retry-After
    when it gave one, else exponential from `base`, capped, plus the caller's jitter."""
    if retry_after is not None:
        return max(0.0, retry_after)
    return min(cap, base * 2 ** (attempt - 1)) + jitter


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
