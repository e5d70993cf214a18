"""How much each sender has waiting, known without a query.

The scaler picks the least busy sender and the gate refuses a send that could
not drain within its validity period (21611); both ask on every send, so the
counts live in memory.  They are loaded from the database at start and changed
only by writer jobs (one thread), which keeps them exact for this process; where
other processes change the queue too, they are reloaded every second
(`gateway.runtime.recount`).
"""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session

from gateway.store import queue_stats


class Backlog:
    def __init__(self) -> None:
        self.segments: defaultdict[str, int] = defaultdict(int)
        self.messages: defaultdict[str, int] = defaultdict(int)

    def load(self, session: Session) -> None:
        rows = queue_stats.backlog(session.connection())
        self.segments.clear()
        self.messages.clear()
        for sender_sid, count, segments in rows:
            if sender_sid:
                self.messages[sender_sid] = int(count)
                self.segments[sender_sid] = int(segments or 0)

    def add(self, sender_sid: str, segments: int) -> None:
        self.messages[sender_sid] += 1
        self.segments[sender_sid] += segments

    def remove(self, sender_sid: str, segments: int) -> None:
        self.messages[sender_sid] = max(0, self.messages[sender_sid] - 1)
        self.segments[sender_sid] = max(0, self.segments[sender_sid] - segments)


class StickyLoad:
    """Sticky mappings per sender of each service: the scaler's load when Sticky Sender is on."""

    def __init__(self) -> None:
        self._services: dict[str, defaultdict[str, int]] = {}

    def of(self, session: Session, service_sid: str) -> defaultdict[str, int]:
        counts = self._services.get(service_sid)
        if counts is None:
            counts = self._services[service_sid] = defaultdict(
                int, queue_stats.sticky_counts(session.connection(), service_sid)
            )
        return counts

    def clear(self) -> None:
        """Drop the cached counts after a change (a sender left, mappings reset or pinned)."""
        self._services.clear()
