"""One provider request per message: a send is not started when the sender's lease would end
before it could be answered, and a request that fails in transport is retried later, never lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx2
import pytest
from sqlmodel import Session, select

from gateway.dispatch.request import ProviderRequests
from gateway.dispatch.worker import Dispatcher, _Pacer
from gateway.ids import new_sid
from gateway.lifecycle import Status
from gateway.outbox.backlog import Backlog
from gateway.outbox.messages import insert_message
from gateway.providers import PROVIDERS
from gateway.providers.base import Credentials
from gateway.providers.health import ProviderHealth
from gateway.providers.outages import SharedHealth
from gateway.store.claims import DUE
from gateway.store.db import make_engine, migrate, unit_of_work, utcnow
from gateway.store.tables import Account, Message, Sender
from gateway.store.writer import Writer
from tests.conftest import GB_MOBILE

SENDER = "+12015550124"


@pytest.fixture
def queued(tmp_path) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """A migrated database with one sender and one message claimed for sending."""
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    engine = make_engine(url)
    now = utcnow()
    with unit_of_work(engine) as session:
        session.add(Account(sid="AC" + "a" * 32, auth_token="t" * 32, date_created=now))
        session.flush()
        session.add(
            Sender(
                sid="PN" + "a" * 32,
                account_sid="AC" + "a" * 32,
                address=SENDER,
                kind="long_code",
                country="US",
                provider="twilio",
                mps=10,
                date_created=now,
                date_updated=now,
            )
        )
        session.flush()
        insert_message(
            session,
            sid=new_sid("SM"),
            account_sid="AC" + "a" * 32,
            sender_sid="PN" + "a" * 32,
            sender=SENDER,
            to=GB_MOBILE,
            body="Your table is ready",
            status=Status.QUEUED.value,
            provider="twilio",
            expires_at=now + timedelta(hours=1),
            date_created=now,
        )
    with Session(engine) as session:
        row = session.connection().execute(DUE, {"sender": "PN" + "a" * 32, "now": utcnow(), "limit": 1}).one()
    yield {"engine": engine, "row": row}
    engine.dispose()


def dispatch_one(
    engine: Any, row: Any, *, lease_left: float, transport: httpx2.MockTransport, health: ProviderHealth | None = None
) -> None:
    """Run one `_send_and_record` the way a pacer does, with `lease_left` seconds of lease."""

    async def run() -> None:
        writer = Writer(engine)
        writer.start()
        async with httpx2.AsyncClient(transport=transport) as client:
            requests = ProviderRequests(
                client,
                PROVIDERS,
                {"twilio": Credentials("AC1", "token", "http://p")},
                lambda provider, sid: f"http://gw/webhooks/{provider}/status?ref={sid}",
                health=SharedHealth(health, writer, engine) if health is not None else None,
            )
            dispatcher = Dispatcher(engine, writer, Backlog(), requests, owner="test")
            pacer = _Pacer(sender=None, lease_until=asyncio.get_running_loop().time() + lease_left)
            with Session(engine) as session:
                pacer.sender = session.exec(select(Sender)).one()
            await dispatcher._send_and_record(pacer, row)
        writer.stop()

    asyncio.run(run())


def message(engine: Any) -> Message:
    with Session(engine) as session:
        return session.exec(select(Message)).one()


def test_a_send_with_too_little_lease_left_is_not_started_and_is_retried_later(queued):
    requests: list[httpx2.Request] = []
    transport = httpx2.MockTransport(
        lambda request: (
            requests.append(request) or httpx2.Response(201, json={"sid": "SM" + "b" * 32, "status": "queued"})
        )
    )
    dispatch_one(queued["engine"], queued["row"], lease_left=-0.5, transport=transport)
    assert requests == []
    sent = message(queued["engine"])
    assert (sent.status, sent.attempts) == ("queued", 1)


def test_a_send_with_lease_to_spare_is_requested_once(queued):
    requests: list[httpx2.Request] = []
    transport = httpx2.MockTransport(
        lambda request: (
            requests.append(request) or httpx2.Response(201, json={"sid": "SM" + "b" * 32, "status": "queued"})
        )
    )
    dispatch_one(queued["engine"], queued["row"], lease_left=8.0, transport=transport)
    assert len(requests) == 1 and requests[0].headers["I-Twilio-Idempotency-Token"] == queued["row"].sid
    assert message(queued["engine"]).status == "sent"


def test_a_transport_error_is_retried_later_and_counts_against_the_providers_health(queued):
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("connection refused", request=request)

    health = ProviderHealth(window=60.0, probe_interval=5.0)
    dispatch_one(queued["engine"], queued["row"], lease_left=8.0, transport=httpx2.MockTransport(refuse), health=health)
    sent = message(queued["engine"])
    assert (sent.status, sent.attempts) == ("queued", 1) and sent.next_attempt_at is not None
    assert "twilio" in health._failing_since  # the streak that can mark it unhealthy began
