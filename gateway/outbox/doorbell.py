"""How whoever commits outbox rows wakes this process's workers without knowing them.

The orchestration core exists before any worker (an API process may run none, and tests stop and
start them), so it rings a doorbell it was built with; the dispatcher and the forwarder listen
while they run.  Rung after the commit: a worker woken earlier would find nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager


class Doorbell:
    def __init__(self) -> None:
        self._senders: list[Callable[[str], None]] = []
        self._deliveries: list[Callable[[], None]] = []

    def ring(self, senders: Iterable[str] = ()) -> None:
        """`senders` got messages to pace; requests to apps may wait too (a status callback, a forward)."""
        for sender_sid in senders:
            for listener in self._senders:
                listener(sender_sid)
        for wake in self._deliveries:
            wake()

    @contextmanager
    def listening(self, senders: Callable[[str], None], deliveries: Callable[[], None]) -> Iterator[None]:
        """Call `senders(sid)` and `deliveries()` on every ring until the block ends."""
        self._senders.append(senders)
        self._deliveries.append(deliveries)
        try:
            yield
        finally:
            self._senders.remove(senders)
            self._deliveries.remove(deliveries)
