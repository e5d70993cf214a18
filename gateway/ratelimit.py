"""Token buckets: the budget of failed sign-ins (`gateway.accounts`), and the shares a process
holds of the per-account API rate limit.  Pure: time comes in as a number.

A bucket holds up to `burst` tokens and refills at `rate` tokens per second; each request takes
one.  So a key may make `burst` requests at once, then `rate` per second on average; a request
finding the bucket empty is refused, and told how long until a token is back.

The failed sign-in budgets (`RateLimiter`) live in the process that answers.  The API rate limit
holds across processes: its bucket is in the database (`store.rate_budgets`), and a process
takes a *share* of it, a tenth of a second of the rate, with one statement, then spends the
share without asking again (`Shares`, and `gateway.budgets` for the I/O).  A share not spent
within `SHARE_LIFETIME` is dropped, so a process cannot keep tokens back to add to a later burst;
a process told the bucket is short waits, refusing locally, until a whole share has refilled.
So the processes together never take more than the one bucket gives, and the database is asked
about once per share, not once per request.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float  # capacity
    tokens: float
    updated: float  # when `tokens` was last brought up to date

    def take(self, now: float) -> float:
        """Take a token: 0.0 when one was there, else the seconds until one will be (none taken)."""
        wait = self.wait(now)
        if not wait:
            self.tokens -= 1.0
        return wait

    def wait(self, now: float) -> float:
        """0.0 when a token is there, else the seconds until one will be; nothing is taken."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        return self.tokens + max(0.0, now - self.updated) * self.rate >= self.burst


@dataclass
class RateLimiter:
    """Token buckets by key (an AccountSid; a client address), each starting full.

    With `max_keys`, keys that anyone may make up (addresses) cannot grow the table without end:
    past that many, buckets that have refilled are dropped (a full bucket is the same as none),
    then, if that freed less than a tenth of the table, the oldest ones up to a tenth. Making room
    walks the table, so it must free enough to be rare: freeing one key per walk would let a
    stream of new addresses cost a walk of the whole table per request."""

    rate: float
    burst: int
    max_keys: int | None = None
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def take(self, key: str, now: float) -> float:
        """0.0 when `key` may make a request now (and it is counted), else the seconds to wait."""
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = TokenBucket(self.rate, float(self.burst), float(self.burst), now)
        return bucket.take(now)

    def wait(self, key: str, now: float) -> float:
        """0.0 when `key` could make a request now, else the seconds to wait; nothing is counted."""
        bucket = self._buckets.get(key)
        return bucket.wait(now) if bucket is not None else 0.0

    def _make_room(self, now: float) -> None:
        if self.max_keys is None or len(self._buckets) < self.max_keys:
            return
        for key in [key for key, bucket in self._buckets.items() if bucket.full(now)]:
            del self._buckets[key]
        room = max(1, self.max_keys // 10)
        if len(self._buckets) > self.max_keys - room:
            for key in list(itertools.islice(self._buckets, len(self._buckets) - (self.max_keys - room))):
                del self._buckets[key]


#: A share is this many seconds of the account's rate (at least one request, at most its burst).
SHARE_SECONDS = 0.1
#: Seconds after which the unspent part of a share is dropped.
SHARE_LIFETIME = 1.0


@dataclass
class _Share:
    tokens: float = 0.0
    expires: float = 0.0  # when the unspent tokens are dropped
    refused_until: float = 0.0  # the bucket was short: no lease before then


@dataclass
class Shares:
    """This process's shares of each account's API rate limit (one per account that made requests
    here: accounts are few and created by operators).  Times are wall-clock seconds, the clock the
    database bucket keeps for every process."""

    rate: float
    burst: int
    _shares: dict[str, _Share] = field(default_factory=dict)

    @property
    def want(self) -> float:
        """Tokens a lease asks for."""
        return max(1.0, min(float(self.burst), self.rate * SHARE_SECONDS))

    def take(self, key: str, now: float) -> float | None:
        """0.0: the request may go (counted).  A positive number: refused, the seconds to wait.
        None: this process has no tokens for `key`; lease some (`leased`) and ask again."""
        share = self._shares.get(key)
        if share is None:
            return None
        if now < share.refused_until:
            return share.refused_until - now
        if share.tokens >= 1.0 and now < share.expires:
            share.tokens -= 1.0
            return 0.0
        return None

    def leased(self, key: str, granted: float, left: float, now: float) -> None:
        """Record a lease's answer: `granted` tokens taken from the shared bucket, `left` there."""
        share = self._shares.setdefault(key, _Share())
        if granted:
            share.tokens = (share.tokens if now < share.expires else 0.0) + granted
            share.expires, share.refused_until = now + SHARE_LIFETIME, 0.0
        else:
            share.refused_until = now + (self.want - left) / self.rate
