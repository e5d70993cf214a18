"""The statements behind shared provider health and the shared API rate limit, on SQLite and on
PostgreSQL; two calls in a row stand for two processes (the `engine` fixture, tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from gateway.store import provider_health, rate_budgets
from gateway.store.db import unit_of_work

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ACCOUNT = "AC" + "a" * 32


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def mark(engine: Engine, seconds: float) -> bool:
    with unit_of_work(engine) as session:
        return provider_health.mark_unhealthy(session, "plivo", now=at(seconds), probe_interval=5.0)


def claim(engine: Engine, seconds: float) -> bool:
    with unit_of_work(engine) as session:
        return provider_health.claim_probe(session, "plivo", now=at(seconds), probe_interval=5.0)


def lease(engine: Engine, now: float, want: float = 5.0) -> tuple[float, float]:
    with unit_of_work(engine) as session:
        return rate_budgets.lease(session, ACCOUNT, want=want, rate=50.0, burst=50.0, now=now)


def test_the_first_process_to_mark_an_outage_dates_it(engine):
    assert (mark(engine, 0), mark(engine, 3)) == (True, False)
    with unit_of_work(engine) as session:
        [outage] = provider_health.outages(session)
    assert (outage.since, outage.next_probe, outage.probing) == (at(0), at(5), False)


def test_one_probe_claim_per_interval_for_every_process(engine):
    mark(engine, 0)
    assert [claim(engine, 4.9), claim(engine, 5), claim(engine, 5), claim(engine, 9.9), claim(engine, 10)] == [
        False,
        True,
        False,
        False,
        True,
    ]


def test_a_healed_provider_has_no_outage_and_a_second_heal_finds_none(engine):
    mark(engine, 0)
    with unit_of_work(engine) as session:
        assert provider_health.mark_healthy(session, "plivo") == at(0)
        assert provider_health.mark_healthy(session, "plivo") is None
        assert provider_health.outages(session) == []


def test_leases_share_one_bucket_that_starts_full(engine):
    """Ten leases of 5 empty a bucket of 50; the eleventh gets nothing and learns what is left."""
    assert [lease(engine, 100.0)[0] for _ in range(10)] == [5.0] * 10
    assert lease(engine, 100.0) == (0.0, 0.0)


def test_the_bucket_refills_at_the_rate_up_to_the_burst(engine):
    for _ in range(10):
        lease(engine, 100.0)
    assert lease(engine, 100.06) == (0.0, pytest.approx(3.0))
    assert lease(engine, 100.1) == (5.0, pytest.approx(0.0))
    assert lease(engine, 1000.0) == (5.0, pytest.approx(45.0))


def test_a_process_whose_clock_is_behind_refills_nothing_twice(engine):
    for _ in range(10):
        lease(engine, 100.0)
    lease(engine, 99.0, want=1.0)  # a clock a second behind: nothing refilled, `updated` kept
    assert lease(engine, 100.1) == (5.0, pytest.approx(0.0))
