"""Provider health: a circuit breaker per provider, fed by the dispatch worker's outcomes.

Theory. A provider is *healthy* (closed) until its requests have done nothing but time out or
answer 5xx for `window` seconds: one success anywhere in that time resets the streak, so one
slow request does not trip it. It is then *unhealthy* (open): routing prefers, within a tier,
senders of other providers (`routing.selection`, a pinned sticky mapping excepted), and the
worker holds the messages already queued on its senders, paced and not lost. Every
`probe_interval` seconds one request is let through (half-open); its success closes the
breaker, its failure keeps it open for another interval. Any answer that is not a 5xx (2xx, a
4xx rejection, a 429) proves the provider is up.

Times: `now` is the caller's monotonic clock (the event loop's), passed in so the state machine
is tested without sleeping; `since` is wall-clock UTC, for /readyz and the logs. The state is
per process: the process that dispatches a provider's traffic is the one that sees it fail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from gateway.dates import iso8601, utcnow

log = logging.getLogger("gateway.providers.health")


class State(StrEnum):
    HEALTHY = "healthy"  # closed
    UNHEALTHY = "unhealthy"  # open: only probes go through
    PROBING = "probing"  # half-open: one probe is in flight


@dataclass
class _Breaker:
    state: State = State.HEALTHY
    failing_since: float | None = None  # monotonic start of the current streak of failures
    next_probe: float = 0.0
    since: datetime | None = None  # wall clock of the last change of state to unhealthy


class ProviderHealth:
    def __init__(self, window: float = 10.0, probe_interval: float = 5.0) -> None:
        self.window, self.probe_interval = window, probe_interval
        self._breakers: dict[str, _Breaker] = {}

    def _of(self, provider: str) -> _Breaker:
        return self._breakers.setdefault(provider, _Breaker())

    def failure(self, provider: str, now: float) -> None:
        """A timeout, transport error or 5xx."""
        breaker = self._of(provider)
        if breaker.state is State.PROBING:
            breaker.state, breaker.next_probe = State.UNHEALTHY, now + self.probe_interval
            log.warning("provider %s still unhealthy (since %s): its probe failed", provider, iso8601(breaker.since))
            return
        if breaker.state is State.UNHEALTHY:
            return
        if breaker.failing_since is None:
            breaker.failing_since = now
        if now - breaker.failing_since >= self.window:
            breaker.state, breaker.next_probe = State.UNHEALTHY, now + self.probe_interval
            breaker.since = utcnow()
            log.warning(
                "provider %s is unhealthy since %s: only timeouts and 5xx for %g s; routing prefers "
                "other providers' senders, its queued messages wait for it",
                provider,
                iso8601(breaker.since),
                self.window,
            )

    def success(self, provider: str, now: float) -> None:
        """Any answer that is not a 5xx."""
        breaker = self._of(provider)
        if breaker.state is not State.HEALTHY:
            log.warning("provider %s is healthy again (unhealthy since %s)", provider, iso8601(breaker.since))
        breaker.state, breaker.failing_since, breaker.since = State.HEALTHY, None, None

    def allow(self, provider: str, now: float) -> bool:
        """Whether a request may go to `provider` now: always while healthy; one probe per interval while not."""
        breaker = self._of(provider)
        if breaker.state is State.HEALTHY:
            return True
        if breaker.state is State.UNHEALTHY and now >= breaker.next_probe:
            breaker.state = State.PROBING
            breaker.next_probe = now + self.probe_interval  # a probe that never answers counts as failed then
            return True
        if breaker.state is State.PROBING and now >= breaker.next_probe:
            breaker.next_probe = now + self.probe_interval
            return True
        return False

    def next_probe(self, provider: str) -> float:
        """The monotonic time the next request to an unhealthy provider may go."""
        return self._of(provider).next_probe

    def unhealthy(self) -> frozenset[str]:
        return frozenset(name for name, b in self._breakers.items() if b.state is not State.HEALTHY)

    def report(self) -> dict[str, dict[str, str | None]]:
        """Each provider seen so far: its state and, when unhealthy, since when (UTC, ISO 8601)."""
        return {name: {"state": b.state.value, "since": iso8601(b.since)} for name, b in sorted(self._breakers.items())}
