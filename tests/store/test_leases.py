"""Sender leases: one pacer per sender across processes, handed over when a holder dies.

Each test runs on SQLite and on PostgreSQL; "workers" are just owner names here,
the dispatcher's use of them is tested end to end in tests/flows/test_scaleout.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.accounts import Accounts
from gateway.dispatch.worker import ADOPT_AFTER
from gateway.ids import new_sid
from gateway.outbox.messages import insert_message
from gateway.runtime import take_back_everything
from gateway.settings import Settings
from gateway.store import leases
from gateway.store.claims import claim as claim_due
from gateway.store.db import make_engine, migrate, unit_of_work, utcnow
from gateway.store.tables import Message, Sender, SenderLease
from tests.conftest import TEST_CIPHER, US_MOBILE

TTL = 10.0


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    migrate(database_url)
    engine = make_engine(database_url)
    account = Accounts(engine, TEST_CIPHER).create("leases")
    now = utcnow()
    with unit_of_work(engine) as session:
        for sid in ("PN" + "1" * 32, "PN" + "2" * 32):
            session.add(
                Sender(
                    sid=sid,
                    account_sid=account.sid,
                    address="+1201555" + sid[-4:],
                    kind="long_code",
                    country="US",
                    mps=1,
                    date_created=now,
                    date_updated=now,
                )
            )
        session.flush()
        for status in ("queued", "sending", "sending"):
            insert_message(
                session,
                sid=new_sid("SM"),
                account_sid=account.sid,
                sender_sid=SENDER,
                to=US_MOBILE,
                status=status,
                expires_at=now + timedelta(hours=1),
                date_created=now,
            )
    yield engine
    engine.dispose()


SENDER, OTHER = "PN" + "1" * 32, "PN" + "2" * 32


def acquire(engine: Engine, owner: str, *senders: str, at_offset: float = 0.0) -> list[str]:
    with unit_of_work(engine) as session:
        return leases.acquire(session, senders, owner=owner, now=utcnow() + timedelta(seconds=at_offset), ttl=TTL)


def statuses(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.exec(select(Message.status)).scalars())  # type: ignore[call-overload]


def test_a_free_sender_is_leased_to_the_first_worker(engine):
    assert acquire(engine, "worker-a", SENDER, OTHER) == [SENDER, OTHER]
    with Session(engine) as session:
        lease = session.get(SenderLease, SENDER)
    assert lease is not None and lease.owner == "worker-a"


def test_a_live_lease_is_not_taken_by_another_worker(engine):
    acquire(engine, "worker-a", SENDER)
    assert acquire(engine, "worker-b", SENDER, OTHER) == [OTHER]


def test_the_holder_takes_its_own_lease_again(engine):
    acquire(engine, "worker-a", SENDER)
    assert acquire(engine, "worker-a", SENDER) == [SENDER]


def test_a_lapsed_lease_is_taken_over(engine):
    acquire(engine, "worker-a", SENDER)
    assert acquire(engine, "worker-b", SENDER, at_offset=TTL + 0.1) == [SENDER]


def claim(engine: Engine, owner: str, in_flight: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    with unit_of_work(engine) as session:
        return claim_due(session, SENDER, owner, 10, in_flight, now=utcnow(), adopt_after=ADOPT_AFTER)


def test_the_new_holders_first_claim_queues_again_what_the_last_holder_left_sending(engine):
    assert statuses(engine) == ["queued", "sending", "sending"]
    acquire(engine, "worker-a", SENDER, at_offset=-2 * TTL)
    acquire(engine, "worker-b", SENDER, at_offset=-ADOPT_AFTER - 0.1)  # worker-a's lease had lapsed
    claimed = claim(engine, "worker-b")
    assert claimed is not None and len(claimed.batch) == 3 and not claimed.orphans
    assert statuses(engine) == ["sending", "sending", "sending"]


def test_the_last_holders_sending_messages_wait_a_while_after_a_takeover(engine):
    """Its lease may have lapsed only because the database was away, and it may still be writing what
    the provider answered: sent again now, such a message would reach the person twice."""
    acquire(engine, "worker-a", SENDER, at_offset=-2 * TTL)
    acquire(engine, "worker-b", SENDER)
    claimed = claim(engine, "worker-b")
    assert claimed is not None and len(claimed.batch) == 1 and claimed.orphans
    assert claimed.next_due is not None and 0 < claimed.next_due <= ADOPT_AFTER
    assert statuses(engine) == ["sending", "sending", "sending"]


def test_the_holder_taking_its_own_lease_again_is_no_takeover(engine):
    acquire(engine, "worker-a", SENDER, at_offset=-ADOPT_AFTER - 0.1)
    acquire(engine, "worker-a", SENDER)
    with Session(engine) as session:
        lease = session.get(SenderLease, SENDER)
    assert lease is not None and lease.acquired_at < utcnow() - timedelta(seconds=ADOPT_AFTER)


def test_a_claim_leaves_this_workers_sends_in_flight_alone(engine):
    acquire(engine, "worker-a", SENDER)
    with Session(engine) as session:
        in_flight = frozenset(session.execute(select(Message.sid).where(Message.status == "sending")).scalars())
    claimed = claim(engine, "worker-a", in_flight)
    assert claimed is not None and len(claimed.batch) == 1  # only the queued one; nothing is sent twice


def test_a_claim_without_the_lease_claims_nothing(engine):
    acquire(engine, "worker-a", SENDER)
    assert claim(engine, "worker-b") is None
    assert statuses(engine) == ["queued", "sending", "sending"]


def test_renewal_reports_only_the_leases_still_held(engine):
    acquire(engine, "worker-a", SENDER, OTHER)
    acquire(engine, "worker-b", OTHER, at_offset=TTL + 0.1)  # worker-a was presumed dead
    with unit_of_work(engine) as session:
        kept = leases.renew(session, [SENDER, OTHER], owner="worker-a", now=utcnow(), ttl=TTL)
    assert kept == {SENDER}


def test_a_released_lease_passes_to_another_worker_only_after_a_second(engine):
    """The holder's last sends still count at the provider for a second."""
    acquire(engine, "worker-a", SENDER)
    with unit_of_work(engine) as session:
        leases.release(session, [SENDER], owner="worker-a", requeue=False, now=utcnow())
    assert acquire(engine, "worker-b", SENDER) == []
    assert acquire(engine, "worker-b", SENDER, at_offset=1.1) == [SENDER]


def test_release_at_shutdown_queues_the_unsent_claims(engine):
    acquire(engine, "worker-a", SENDER)
    with unit_of_work(engine) as session:
        session.connection().execute(Message.__table__.update().values(status="sending"))  # type: ignore[attr-defined]
        leases.release(session, [SENDER], owner="worker-a", requeue=True, now=utcnow())
    assert statuses(engine) == ["queued", "queued", "queued"]


def test_a_restarted_worker_takes_back_at_once_what_its_earlier_life_held(engine):
    acquire(engine, "worker-a", SENDER)
    acquire(engine, "worker-b", OTHER)
    with unit_of_work(engine) as session:
        leases.release_everything(session, owner="worker-a")
    assert acquire(engine, "worker-c", SENDER, OTHER) == [SENDER]


def test_serve_starting_its_processes_takes_back_every_lease_and_claimed_message(engine, database_url):
    """`serve --workers N` on SQLite, before its processes start: nothing of an earlier run is alive."""
    acquire(engine, "worker-a", SENDER)
    acquire(engine, "worker-b", OTHER)
    take_back_everything(Settings(database_url=database_url))
    assert statuses(engine) == ["queued", "queued", "queued"]
    assert acquire(engine, "worker-c", SENDER, OTHER) == [SENDER, OTHER]
