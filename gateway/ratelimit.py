"""The per-account API rate limit: one token bucket per account.  Pure: time comes in as a number.

A bucket holds up to `burst` tokens and refills at `rate` tokens per second; each API request
takes one.  So an account may make `burst` requests at once, then `rate` per second on average;
a request finding the bucket empty is refused, and told how long until a token is back.

The buckets live in the process that answers the request: with `gateway serve --workers N`, or
several API processes behind a load balancer, an account may make up to N times the limit in
all.  One bucket per account that ever authenticated is kept: accounts are few and created by
operators, and a bucket is four numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    burst: float  # capacity
    tokens: float
    updated: float  # when `tokens` was last brought up to date

    def take(self, now: float) -> float:
        """Take a token: 0.0 when one was there, else the seconds until one will be (none taken)."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class RateLimiter:
    """Token buckets by key (an AccountSid), each starting full."""

    rate: float
    burst: int
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def take(self, key: str, now: float) -> float:
        """0.0 when `key` may make a request now (and it is counted), else the seconds to wait."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, float(self.burst), float(self.burst), now)
        return bucket.take(now)
