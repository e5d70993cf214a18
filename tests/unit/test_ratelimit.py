"""The per-account token bucket: a burst at once, then the rate; the wait it names is exact."""

from __future__ import annotations

import pytest

from gateway.ratelimit import RateLimiter, Shares

ACCOUNT_A = "AC" + "a" * 32
ACCOUNT_B = "AC" + "b" * 32


def test_an_account_may_make_its_burst_at_once_and_no_more():
    limiter = RateLimiter(rate=10.0, burst=3)
    assert [limiter.take(ACCOUNT_A, 100.0) for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.1)]


def test_the_wait_named_is_when_the_next_token_is_back():
    """Refused at t, told to wait w: a request at t + w goes through."""
    limiter = RateLimiter(rate=4.0, burst=1)
    assert limiter.take(ACCOUNT_A, 0.0) == 0.0
    wait = limiter.take(ACCOUNT_A, 0.1)
    assert wait == pytest.approx(0.15)
    assert limiter.take(ACCOUNT_A, 0.1 + wait) == 0.0


def test_a_refused_request_takes_no_token():
    """Retrying while refused does not push the account's next allowed request further away."""
    limiter = RateLimiter(rate=1.0, burst=1)
    limiter.take(ACCOUNT_A, 0.0)
    assert [limiter.take(ACCOUNT_A, t) for t in (0.2, 0.4, 0.6)] == [pytest.approx(w) for w in (0.8, 0.6, 0.4)]
    assert limiter.take(ACCOUNT_A, 1.0) == 0.0


def test_an_idle_account_refills_to_its_burst_and_no_further():
    limiter = RateLimiter(rate=100.0, burst=2)
    limiter.take(ACCOUNT_A, 0.0)
    limiter.take(ACCOUNT_A, 0.0)
    assert [limiter.take(ACCOUNT_A, 3600.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.01)]


def test_each_account_has_its_own_bucket():
    limiter = RateLimiter(rate=1.0, burst=1)
    limiter.take(ACCOUNT_A, 0.0)
    assert limiter.take(ACCOUNT_A, 0.0) > 0 and limiter.take(ACCOUNT_B, 0.0) == 0.0


def test_a_full_table_of_spent_budgets_drops_the_oldest_tenth_so_new_keys_rarely_walk_it():
    """Addresses anyone may make up: at the cap, with no bucket refilled, the oldest tenth go at
    once (not one per new key, which would walk the whole table on every request)."""
    limiter = RateLimiter(rate=0.1, burst=1, max_keys=100)
    for n in range(100):
        limiter.take(f"10.0.0.{n}", now=0.0)  # every bucket spent: none is full
    limiter.take("192.0.2.1", now=1.0)
    kept = set(limiter._buckets)
    assert "192.0.2.1" in kept and len(kept) == 91
    assert not {f"10.0.0.{n}" for n in range(10)} & kept  # the oldest tenth
    assert {f"10.0.0.{n}" for n in range(10, 100)} <= kept


def test_at_the_cap_refilled_buckets_go_before_any_spent_one():
    limiter = RateLimiter(rate=1.0, burst=1, max_keys=4)
    limiter.take("spent-long-ago", now=0.0)  # full again by t=10
    for key in ("a", "b", "c"):
        limiter.take(key, now=10.0)
    limiter.take("new", now=10.0)
    assert set(limiter._buckets) == {"a", "b", "c", "new"}


def test_a_process_without_a_share_is_told_to_lease_one():
    assert Shares(rate=50.0, burst=50).take(ACCOUNT_A, 0.0) is None


def test_a_share_is_a_tenth_of_a_second_of_the_rate_and_spent_without_asking_again():
    shares = Shares(rate=50.0, burst=50)
    shares.leased(ACCOUNT_A, shares.want, 45.0, 0.0)
    assert shares.want == 5.0
    assert [shares.take(ACCOUNT_A, 0.01) for _ in range(6)] == [0.0] * 5 + [None]


def test_a_share_is_at_least_one_request_and_at_most_the_burst():
    assert (Shares(rate=0.5, burst=3).want, Shares(rate=1000.0, burst=20).want) == (1.0, 20.0)


def test_a_short_bucket_refuses_locally_until_a_whole_share_has_refilled():
    """The bucket had 2 of the 5 asked: refused for the 3 tokens' refill, 3 / 50 s, without asking again."""
    shares = Shares(rate=50.0, burst=50)
    shares.leased(ACCOUNT_A, 0.0, 2.0, 10.0)
    assert shares.take(ACCOUNT_A, 10.0) == pytest.approx(0.06)
    assert shares.take(ACCOUNT_A, 10.06) is None


def test_the_unspent_part_of_a_share_is_dropped_after_its_lifetime():
    """Tokens kept back could otherwise join a later full bucket and pass the burst."""
    shares = Shares(rate=50.0, burst=50)
    shares.leased(ACCOUNT_A, 5.0, 45.0, 0.0)
    assert shares.take(ACCOUNT_A, 1.0) is None
