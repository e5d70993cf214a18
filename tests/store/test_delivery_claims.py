"""Forwarders share one outbox: each claims the first pending request of each key, others skip it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.outbox.deliveries import enqueue
from gateway.store.db import make_engine, migrate, unit_of_work, utcnow
from gateway.store.deliveries import claim as take
from tests.conftest import DE_MOBILE, FR_MOBILE


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrate(database_url)
    engine = make_engine(database_url)
    with unit_of_work(engine) as session:
        for key in (FR_MOBILE, FR_MOBILE, DE_MOBILE, DE_MOBILE):
            enqueue(
                session,
                kind="inbound_forward",
                account_sid="AC" + "0" * 32,
                ordering_key=key,
                url="http://127.0.0.1:9/app",
                params=[("From", key)],
                now=utcnow(),
            )
    yield engine
    engine.dispose()


def claim(engine: Engine, owner: str, claim_for: float = 30.0) -> list[tuple[int | None, str]]:
    with unit_of_work(engine) as session:
        return [(d.id, d.ordering_key) for d in take(session, owner, claim_for, limit=10)]


def test_a_forwarder_claims_the_first_request_of_each_key(engine):
    assert claim(engine, "worker-a") == [(1, FR_MOBILE), (3, DE_MOBILE)]


def test_claimed_requests_and_the_rest_of_their_keys_are_hidden_from_other_forwarders(engine):
    claim(engine, "worker-a")
    assert claim(engine, "worker-b") == []


def test_a_lapsed_claim_is_delivered_again_by_another_forwarder(engine):
    claim(engine, "worker-a", claim_for=0.0)  # worker-a died at once
    assert claim(engine, "worker-b") == [(1, FR_MOBILE), (3, DE_MOBILE)]


def test_a_claim_in_progress_is_skipped_not_waited_for(postgres):
    """FOR UPDATE SKIP LOCKED: a second forwarder claiming at the same moment gets other rows, without blocking."""
    from tests.postgres import new_database

    url = new_database(postgres)
    migrate(url)
    engine = make_engine(url)
    try:
        with unit_of_work(engine) as session:
            for key in (FR_MOBILE, DE_MOBILE):
                enqueue(
                    session,
                    kind="inbound_forward",
                    account_sid="AC" + "0" * 32,
                    ordering_key=key,
                    url="http://127.0.0.1:9/app",
                    params=[],
                    now=utcnow(),
                )
        with Session(engine) as first, first.begin():
            first.connection().exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            assert [d.ordering_key for d in take(first, "worker-a", 30.0, limit=10)] == [FR_MOBILE, DE_MOBILE]
            # worker-a's transaction is still open, holding both rows: a concurrent claim skips
            # them (with a lock wait it would fail on lock_timeout instead).
            with Session(engine) as second, second.begin():
                second.connection().exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                assert take(second, "worker-b", 30.0, limit=10) == []
    finally:
        engine.dispose()


def test_the_same_key_in_another_account_is_claimed_beside_it(engine):
    """Keys never span accounts: a person's forward to account B does not wait behind their forward to A."""
    with unit_of_work(engine) as session:
        enqueue(
            session,
            kind="inbound_forward",
            account_sid="AC" + "1" * 32,
            ordering_key=FR_MOBILE,
            url="http://127.0.0.1:9/app",
            params=[("From", FR_MOBILE)],
            now=utcnow(),
        )
    assert claim(engine, "worker-a") == [(1, FR_MOBILE), (3, DE_MOBILE), (5, FR_MOBILE)]
