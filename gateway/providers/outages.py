"""Provider health across processes: `health.ProviderHealth`'s decisions, read from and written to
the database (`store.provider_health`).

Writes (an outage, a probe claim, its failure, the end of an outage) are rare, a few per probe
interval at most, and go through the writer. Reads happen once a second in every process (`watch`),
off the event loop, and on each readiness check, so that routing everywhere, and every process's
`/readyz`, follow the same outages within about a second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.dates import iso8601, utcnow
from gateway.providers.health import Change, Outage, ProviderHealth
from gateway.store import provider_health, reads
from gateway.store.writer import Writer

log = logging.getLogger("gateway.providers.health")
T = TypeVar("T")

#: Seconds between reads of the outages; also the longest a paused sender waits before looking
#: again, so that a recovery found by another process's probe is used here within about this.
REFRESH = 1.0


class SharedHealth:
    def __init__(self, health: ProviderHealth, writer: Writer, engine: Engine) -> None:
        self.health, self.writer, self.engine = health, writer, engine
        self._writes = 0  # a read that began before one of our writes may not undo it

    async def failure(self, provider: str) -> None:
        """A timeout, transport error or 5xx."""
        now = utcnow()
        change = self.health.failure(provider, now)
        if change is Change.MARK:
            await self._write(lambda session: self._mark(session, provider, now))
            self.health.marked(provider, Outage(now, now + timedelta(seconds=self.health.probe_interval)))
        elif change is Change.PROBE_FAILED:
            await self._write(lambda session: provider_health.probe_failed(session, provider))
            outage = self.health.outage(provider)
            log.warning(
                "provider %s still unhealthy (since %s): its probe failed",
                provider,
                iso8601(outage.since if outage else None),
            )

    async def success(self, provider: str) -> None:
        """Any answer that is not a 5xx."""
        if self.health.success(provider) is Change.HEAL:
            since = await self._write(lambda session: provider_health.mark_healthy(session, provider))
            self.health.healed(provider)
            if since is not None:
                log.warning("provider %s is healthy again (unhealthy since %s)", provider, iso8601(since))

    async def wait(self, provider: str) -> float | None:
        """None when a request may go to `provider` now (healthy, or this is the interval's probe,
        claimed for the whole deployment); else the seconds to wait before asking again."""
        now = utcnow()
        probe = self.health.may_probe(provider, now)
        if probe is None:
            return None
        if probe:
            won = await self._write(
                lambda session: provider_health.claim_probe(
                    session, provider, now=now, probe_interval=self.health.probe_interval
                )
            )
            self.health.claimed(provider, now, bool(won))
            if won:
                return None
        return min(REFRESH, self.health.wait(provider, utcnow()))

    def unhealthy(self) -> frozenset[str]:
        return self.health.unhealthy()

    def report(self) -> dict[str, dict[str, str | None]]:
        return self.health.report()

    async def refresh(self) -> None:
        """Read the deployment's outages (off the event loop)."""
        writes = self._writes
        rows = await reads.read(self.engine, provider_health.outages)
        if writes == self._writes:
            self.health.seen({row.provider: Outage(row.since, row.next_probe, row.probing) for row in rows})

    async def watch(self, interval: float = REFRESH) -> None:
        """Refresh for as long as the process runs."""
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the database away: keep the last view, try again
                log.warning("could not read provider outages: %s", exc)
            await asyncio.sleep(interval)

    def _mark(self, session: Session, provider: str, now: datetime) -> None:
        first = provider_health.mark_unhealthy(session, provider, now=now, probe_interval=self.health.probe_interval)
        if first:
            log.warning(
                "provider %s is unhealthy since %s: only timeouts and 5xx for %g s; every process's routing "
                "prefers other providers' senders, its queued messages wait for it",
                provider,
                iso8601(now),
                self.health.window,
            )

    async def _write(self, job: Callable[[Session], T]) -> T | None:
        """Run a write; the database away, keep going on this process's view (None)."""
        self._writes += 1
        try:
            return await self.writer.run(job)
        except Exception as exc:
            log.warning("could not record provider health: %s", exc)
            return None
