"""Held messages in the store: stored out of the queue, released when due, once, by one worker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from gateway.compliance.optouts import Consent
from gateway.dispatch.directory import Directory
from gateway.dispatch.holds import release_due
from gateway.dispatch.outcomes import reschedule
from gateway.dispatch.request import ProviderRequests
from gateway.dispatch.submit import SendRequest, SubmitContext
from gateway.dispatch.worker import Dispatcher
from gateway.lifecycle import SCHEDULED_BY_APP, Hold
from gateway.orchestration.consent import record_consent
from gateway.orchestration.core import send_batch
from gateway.outbox.backlog import Backlog, StickyLoad
from gateway.providers import PROVIDERS
from gateway.providers.base import Credentials
from gateway.store import holds
from gateway.store.db import make_engine, migrate, unit_of_work, utcnow
from gateway.store.tables import Delivery, Message, MessageEvent, Service
from tests.conftest import CA_MOBILE, US_MOBILE
from tests.poll import wait_until
from tests.postgres import new_database
from tests.store.seed import account_with_service
from tests.store.test_inbound_batch import gateway  # noqa: F401  (the fixture)

CALLBACK = "http://127.0.0.1:9/status"


def hold(engine, account: str, to: str, until_in: timedelta, backlog: Backlog) -> Message:  # type: ignore[no-untyped-def]
    """Accept a send held `until_in` from now, through the send path."""
    with unit_of_work(engine) as session:
        service = session.exec(select(Service)).one()
        request = SendRequest(
            account_sid=account,
            to=to,
            body="Your table is ready",
            service_sid=service.sid,
            status_callback=CALLBACK,
            hold=Hold(utcnow() + until_in, SCHEDULED_BY_APP),
        )
        context = SubmitContext(backlog, StickyLoad(), Directory(), lambda country: True)
        [message] = send_batch(session, [(request, context, utcnow())])
    assert isinstance(message, Message)
    return message


def test_a_held_send_is_stored_scheduled_out_of_the_queue(gateway):  # noqa: F811
    """A held send is `scheduled` with its due time and reason, its validity counted from then, and no backlog."""
    backlog = Backlog()
    message = hold(gateway["engine"], gateway["account"], US_MOBILE, timedelta(hours=1), backlog)
    with Session(gateway["engine"]) as session:
        row = session.exec(select(Message).where(Message.sid == message.sid)).one()
    assert (row.status, row.hold_reason) == ("scheduled", SCHEDULED_BY_APP)
    assert row.send_at is not None and row.expires_at - row.send_at == timedelta(seconds=36000)
    assert sum(backlog.messages.values()) == 0


def test_release_queues_only_what_is_due_with_events_callbacks_and_backlog(gateway):  # noqa: F811
    """At the first due time one of two held messages is queued: a `queued` event, a `queued` callback, counted."""
    engine, backlog = gateway["engine"], Backlog()
    first = hold(engine, gateway["account"], US_MOBILE, timedelta(hours=1), backlog)
    later = hold(engine, gateway["account"], CA_MOBILE, timedelta(hours=2), backlog)
    with unit_of_work(engine) as session:
        released = release_due(session, utcnow() + timedelta(hours=1, seconds=1), backlog)
    assert (released.senders, released.more) == (frozenset({first.sender_sid}), False)
    assert backlog.messages[first.sender_sid] == 1
    with Session(engine) as session:
        statuses = {m.sid: m.status for m in session.exec(select(Message)).all()}
        events = [(e.message_sid, e.status, e.source) for e in session.exec(select(MessageEvent)).all()]
        callbacks = [d.params for d in session.exec(select(Delivery)).all()]
    assert statuses == {first.sid: "queued", later.sid: "scheduled"}
    assert events == [(first.sid, "queued", "hold")]
    assert len(callbacks) == 1 and '["MessageStatus", "queued"]' in callbacks[0] and first.sid in callbacks[0]


def test_the_dispatcher_releases_what_a_clock_move_made_due_at_once(gateway, clock):  # noqa: F811
    """With sweeps an hour apart, a held message comes out of `scheduled` right after the clock jumps past it:
    the keeper is woken by the move, not by its next sweep."""
    engine = gateway["engine"]
    already_due = hold(engine, gateway["account"], CA_MOBILE, timedelta(seconds=-1), Backlog())
    in_an_hour = hold(engine, gateway["account"], US_MOBILE, timedelta(hours=1), Backlog())

    def status(sid: str) -> str:
        with Session(engine) as session:
            return session.exec(select(Message.status).where(Message.sid == sid)).one()

    async def run() -> None:
        gateway["writer"].start()
        failing = httpx2.MockTransport(lambda request: httpx2.Response(503))  # sends are retried later: no matter
        async with httpx2.AsyncClient(transport=failing) as client:
            requests = ProviderRequests(
                client,
                PROVIDERS,
                {"twilio": Credentials("AC1", "t", "http://p")},
                lambda provider, sid: "http://gw/status",
            )
            dispatcher = Dispatcher(engine, gateway["writer"], Backlog(), requests, owner="keeper", sweep=3600)
            await dispatcher.start()
            try:
                await asyncio.to_thread(wait_until, lambda: status(already_due.sid) != "scheduled")  # the first sweep
                assert status(in_an_hour.sid) == "scheduled"
                clock.advance(timedelta(hours=1))
                await asyncio.to_thread(wait_until, lambda: status(in_an_hour.sid) != "scheduled", 5.0)
            finally:
                await dispatcher.stop()

    asyncio.run(run())


def test_a_full_batch_says_more_may_be_due_until_none_is_left(gateway):  # noqa: F811
    """Two due, a limit of one: each full batch says `more` (the keeper looks again at once) until one finds none."""
    engine, backlog = gateway["engine"], Backlog()
    for to in (US_MOBILE, CA_MOBILE):
        hold(engine, gateway["account"], to, timedelta(hours=1), backlog)
    outcomes = []
    for _ in range(3):
        with unit_of_work(engine) as session:
            released = release_due(session, utcnow() + timedelta(hours=2), backlog, limit=1)
        outcomes.append((len(released.senders), released.more))
    assert outcomes == [(1, True), (1, True), (0, False)]


@pytest.fixture
def on_postgres(postgres: str) -> Iterator[dict[str, Any]]:
    """The `gateway` fixture's account and service, on PostgreSQL only (row locks are what is tested)."""
    url = new_database(postgres)
    migrate(url)
    engine = make_engine(url)
    account, _ = account_with_service(engine, "holds")
    yield {"engine": engine, "account": account}
    engine.dispose()


def test_two_workers_claim_different_due_messages(on_postgres):
    """While one worker's transaction holds its due rows, another's claim skips them and takes the rest."""
    engine = on_postgres["engine"]
    sids = {
        hold(engine, on_postgres["account"], to, timedelta(hours=1), Backlog()).sid for to in (US_MOBILE, CA_MOBILE)
    }
    due = utcnow() + timedelta(hours=2)
    with engine.connect() as first, engine.connect() as second:
        with first.begin(), second.begin():
            [mine] = holds.due(first, due, 1)
            theirs = holds.due(second, due, 10)
            assert {row.sid for row in theirs} == sids - {mine.sid}


def test_an_app_message_in_flight_at_an_opt_out_is_canceled_when_it_comes_back_for_a_retry(gateway):  # noqa: F811
    """An opt-out cancels what waits, not what a worker has claimed: a message that was `sending` at the
    STOP and comes back from the provider (429, 5xx) is canceled with 21610 then, not sent at its retry."""
    engine, backlog = gateway["engine"], Backlog()
    message = hold(engine, gateway["account"], US_MOBILE, timedelta(0), backlog)
    with unit_of_work(engine) as session:
        release_due(session, utcnow() + timedelta(seconds=1), backlog)
        session.execute(update(Message).where(col(Message.sid) == message.sid).values(status="sending"))
        record_consent(
            session,
            Consent(gateway["account"], message.service_sid or "", US_MOBILE, "sms", True, "api", reason="asked"),
            now=utcnow(),
            backlog=backlog,
        )
    with Session(engine) as session:
        assert session.exec(select(Message.status).where(Message.sid == message.sid)).one() == "sending"  # in flight
    with unit_of_work(engine) as session:
        reschedule(session, message.sid, 30.0, backlog, now=utcnow())  # the provider answered 429: back in line
    with Session(engine) as session:
        row = session.exec(select(Message).where(Message.sid == message.sid)).one()
    assert (row.status, row.error_code) == ("canceled", 21610)
