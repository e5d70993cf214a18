"""The per-account API rate limit, holding across every process of a deployment: `ratelimit.Shares`
decides, shares are leased from the account's bucket in the database through the writer.

A request spends a token of this process's share without touching the database.  When the share
is spent, one lease per account is in flight at a time: requests arriving meanwhile wait for it
and then spend what it brought, or are refused with what it found.
"""

from __future__ import annotations

import asyncio
import time

from gateway.ratelimit import Shares
from gateway.store import rate_budgets
from gateway.store.writer import Writer


class ApiRateLimit:
    def __init__(self, shares: Shares, writer: Writer) -> None:
        self.shares, self.writer = shares, writer
        self._leases: dict[str, asyncio.Task[None]] = {}

    @property
    def rate(self) -> float:
        return self.shares.rate

    @property
    def burst(self) -> int:
        return self.shares.burst

    async def take(self, account_sid: str) -> float:
        """0.0 when the account may make a request now (and it is counted), else the seconds to wait.
        Raises what the database raises when a lease cannot be written (the API answers 503)."""
        while True:
            wait = self.shares.take(account_sid, time.time())
            if wait is not None:
                return wait
            lease = self._leases.get(account_sid)
            if lease is None:
                lease = self._leases[account_sid] = asyncio.create_task(self._lease(account_sid))
            await asyncio.shield(lease)

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
