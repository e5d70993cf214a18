"""Provider health: a circuit breaker per provider, shared by every process through the database.

Theory. A provider is *healthy* (closed) until a process's requests to it have done nothing but
time out or answer 5xx for `window` seconds: one success in that process in that time resets its
streak, so one slow request does not trip it. That process then records an *outage*
(`store.provider_health`); every process reads the outages about once a second, so all of them,
API-only ones included, route around it: routing prefers, within a tier, senders of other
providers (`routing.selection`, a pinned sticky mapping excepted), and dispatch holds the messages
already queued on its senders, paced and not lost. Every `probe_interval` seconds one process in
the whole deployment claims the probe (half-open, `probing`) and lets one request through; its
success ends the outage for all, its failure leaves it for the next interval's claim. Any answer
that is not a 5xx (2xx, a 4xx rejection, a 429) proves the provider is up.

This module decides; `providers.outages` does the reading and writing. Times are wall-clock UTC
(`gateway.dates`), the same in every process of a deployment, as sender leases already require.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum

from gateway.dates import iso8601


class State(StrEnum):
    HEALTHY = "healthy"  # closed
    UNHEALTHY = "unhealthy"  # open: only probes go through
    PROBING = "probing"  # half-open: the interval's probe is in flight


class Change(Enum):
    """What a request's outcome asks the caller to record."""

    NONE = "none"
    MARK = "mark"  # failures for the whole window: record the outage
    PROBE_FAILED = "probe_failed"  # our probe failed: the outage stays, the claim is over
    HEAL = "heal"  # an answer while the provider was recorded unhealthy: end the outage


@dataclass(frozen=True)
class Outage:
    since: datetime
    next_probe: datetime  # when the next probe may be claimed
    probing: bool = False


class ProviderHealth:
    def __init__(self, window: float = 10.0, probe_interval: float = 5.0) -> None:
        self.window, self.probe_interval = window, probe_interval
        self._failing_since: dict[str, datetime] = {}  # this process's streaks of failures
        self._outages: dict[str, Outage] = {}  # the deployment's, as last read or written here
        self._probes: set[str] = set()  # providers whose probe this process claimed and awaits

    def failure(self, provider: str, now: datetime) -> Change:
        """A timeout, transport error or 5xx."""
        if provider in self._probes:
            self._probes.discard(provider)
            return Change.PROBE_FAILED
        if provider in self._outages:
            return Change.NONE  # a request started before the outage was known
        since = self._failing_since.setdefault(provider, now)
        return Change.MARK if (now - since).total_seconds() >= self.window else Change.NONE

    def success(self, provider: str) -> Change:
        """Any answer that is not a 5xx."""
        self._failing_since.pop(provider, None)
        self._probes.discard(provider)
        return Change.HEAL if provider in self._outages else Change.NONE

    def may_probe(self, provider: str, now: datetime) -> bool | None:
        """None: healthy, send.  True: unhealthy and the interval's probe may be claimed now.
        False: unhealthy, wait (`wait`)."""
        outage = self._outages.get(provider)
        if outage is None:
            return None
        return now >= outage.next_probe and provider not in self._probes

    def wait(self, provider: str, now: datetime) -> float:
        """Seconds until the next probe of an unhealthy provider may be claimed."""
        outage = self._outages.get(provider)
        return max(0.0, (outage.next_probe - now).total_seconds()) if outage is not None else 0.0

    def marked(self, provider: str, outage: Outage) -> None:
        self._failing_since.pop(provider, None)
        self._outages[provider] = outage

    def claimed(self, provider: str, now: datetime, won: bool) -> None:
        """After a probe claim: ours to send, or another process's (wait the interval either way)."""
        outage = self._outages.get(provider)
        if outage is not None:
            self._outages[provider] = Outage(outage.since, now + timedelta(seconds=self.probe_interval), probing=True)
        if won:
            self._probes.add(provider)

    def healed(self, provider: str) -> None:
        self._outages.pop(provider, None)
        self._failing_since.pop(provider, None)

    def seen(self, outages: dict[str, Outage]) -> None:
        """The outages as read from the database. A provider that went into or out of an outage
        starts its streak afresh: failures from before do not count after the change."""
        for provider in set(outages) ^ set(self._outages):
            self._failing_since.pop(provider, None)
        self._outages = dict(outages)

    def outage(self, provider: str) -> Outage | None:
        return self._outages.get(provider)

    def unhealthy(self) -> frozenset[str]:
        return frozenset(self._outages)

    def report(self) -> dict[str, dict[str, str | None]]:
        """Each unhealthy provider: its state and since when (UTC, ISO 8601)."""
        return {
            name: {"state": (State.PROBING if o.probing else State.UNHEALTHY).value, "since": iso8601(o.since)}
            for name, o in sorted(self._outages.items())
        }
