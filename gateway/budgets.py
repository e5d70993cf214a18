"""The per-account API rate limit, holding across every process of a deployment: `ratelimit.Shares`
decides, shares are leased from the account's bucket in the database through the writer.

A request spends a token of this process's share without touching the database.  When the share
is spent, one lease per account is in flight at a time: requests arriving meanwhile wait for it
and then spend what it brought, or are refused with what it found.

When a lease cannot be written (the database away, the rate table locked), the process does not
refuse every request: for `UNREACHABLE` seconds it asks no more and admits from a bucket of its
own holding its part of the limit (`Settings.api_processes`: the processes of its `serve`).  So
an outage of the rate table costs an account none of its traffic and lets it no further past
its limit than the deployment's `serve` commands together; whatever the request then writes
meets the database on its own (a send answers 503 while it cannot be stored).
"""

from __future__ import annotations

import asyncio
import logging
import time

from gateway.ratelimit import RateLimiter, Shares
from gateway.store import rate_budgets
from gateway.store.writer import Writer

log = logging.getLogger("gateway.budgets")

#: Seconds after a lease failed during which this process admits from its own bucket without asking.
UNREACHABLE = 1.0


class ApiRateLimit:
    def __init__(self, shares: Shares, writer: Writer, processes: int = 1) -> None:
        self.shares, self.writer = shares, writer
        processes = max(1, processes)
        self.alone = RateLimiter(shares.rate / processes, max(1, shares.burst // processes))
        self._leases: dict[str, asyncio.Task[None]] = {}
        self._unreachable_until = 0.0

    @property
    def rate(self) -> float:
        return self.shares.rate

    @property
    def burst(self) -> int:
        return self.shares.burst

    async def take(self, account_sid: str) -> float:
        """0.0 when the account may make a request now (and it is counted), else the seconds to wait."""
        while True:
            now = time.time()
            wait = self.shares.take(account_sid, now)
            if wait is not None:
                return wait
            if now < self._unreachable_until:
                return self.alone.take(account_sid, now)
            lease = self._leases.get(account_sid)
            if lease is None:
                lease = self._leases[account_sid] = asyncio.create_task(self._lease(account_sid))
            try:
                await asyncio.shield(lease)
            except Exception as exc:
                if time.time() >= self._unreachable_until:
                    log.warning("could not lease API rate limit tokens, admitting this process's part alone: %s", exc)
                    self._unreachable_until = time.time() + UNREACHABLE
                return self.alone.take(account_sid, time.time())

    async def _lease(self, account_sid: str) -> None:
        shares = self.shares
        try:
            now = time.time()
            granted, left = await self.writer.run(
                lambda session: rate_budgets.lease(
                    session, account_sid, want=shares.want, rate=shares.rate, burst=shares.burst, now=now
                )
            )
            shares.leased(account_sid, granted, left, time.time())
        finally:
            del self._leases[account_sid]
