"""Token buckets: the per-account API rate limit, and the budget of failed sign-ins (`gateway.accounts`).
Pure: time comes in as a number.

A bucket holds up to `burst` tokens and refills at `rate` tokens per second; each API request
takes one.  So an account may make `burst` requests at once, then `rate` per second on average;
a request finding the bucket empty is refused, and told how long until a token is back.

The buckets live in the process that answers the request: with `gateway serve --workers N`, or
several API processes behind a load balancer, an account may make up to N times the limit in
all.  One bucket per account that ever authenticated is kept: accounts are few and created by
operators, and a bucket is four numbers.
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
