"""The database briefly unavailable: the API answers 503 with Retry-After instead of accepting what it
cannot store, and the dispatch and forwarding workers carry on once it is back.

PostgreSQL goes away as a restart looks to its clients: every connection to the gateway's database
is terminated and new ones are refused (ALLOW_CONNECTIONS false) until it comes back.  SQLite is
locked by another connection holding a write transaction longer than the gateway's busy timeout
(`?timeout=` in the URL, short here).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlmodel import Session

from gateway.store.tables import Message
from tests.conftest import US_MOBILE
from tests.flows.test_inbound import inbound
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until

BUSY_TIMEOUT = 0.5  # seconds the SQLite gateway waits for the lock before a write fails


@pytest.fixture
def gateway_overrides(database_url: str) -> dict[str, object]:
    if database_url.startswith("sqlite"):
        return {"database_url": f"{database_url}?timeout={BUSY_TIMEOUT}"}
    return {}


@contextmanager
def database_down(url: str) -> Iterator[None]:
    """The gateway's database unavailable for the block."""
    parts = make_url(url)
    if parts.drivername.startswith("sqlite"):
        holder = sqlite3.connect(str(parts.database), isolation_level=None, timeout=30)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            holder.execute("COMMIT")
            holder.close()
        return
    import psycopg

    admin_url = parts.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{parts.database}" ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (parts.database,))
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{parts.database}" ALLOW_CONNECTIONS true')


def send(stack, body: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages.json",
        data={"From": US_SENDER, "To": US_MOBILE, "Body": body},
        auth=(stack.account_sid, stack.auth_token),
        timeout=30,
    )


def delivered_bodies(stack) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.body for r in stack.provider.received}


def test_sends_during_an_outage_get_503_and_the_ones_accepted_around_it_are_all_delivered(stack):
    """201 before, 503 + Retry-After (20503) during, 201 after; every 201 reaches the provider, no 503 does."""
    _register(stack, US_SENDER, mps=1)  # a slow sender: some sends are still queued when the outage starts
    before = [f"before {i} {uuid.uuid4().hex[:6]}" for i in range(3)]
    assert [send(stack, body).status_code for body in before] == [201] * 3
    during = [f"during {i} {uuid.uuid4().hex[:6]}" for i in range(2)]
    with database_down(stack.settings.database_url):
        refused = [send(stack, body) for body in during]
    assert [(r.status_code, r.json()["code"], r.json()["status"]) for r in refused] == [(503, 20503, 503)] * 2
    assert all(int(r.headers["Retry-After"]) > 0 for r in refused)
    after = [f"after {i} {uuid.uuid4().hex[:6]}" for i in range(2)]
    assert [send(stack, body).status_code for body in after] == [201] * 2
    wait_until(
        lambda: set(before + after) <= delivered_bodies(stack),
        timeout=30,
        message=lambda: sorted(delivered_bodies(stack)),
    )
    assert not set(during) & delivered_bodies(stack)
    with Session(stack.engine()) as session:
        stored = set(session.execute(select(Message.body)).scalars())
    assert not set(during) & stored


def test_forwarding_resumes_after_an_outage(stack):
    """An inbound webhook during the outage is refused with 503 (the provider retries); one after it is
    forwarded to the app as before."""
    number = _register(stack, US_SENDER, mps=20)
    client = stack.client()
    service = client.messaging.v1.services.create(
        friendly_name="Acme Dental", inbound_request_url=stack.app.url("/inbound")
    )
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number["sid"])
    with database_down(stack.settings.database_url):
        refused = inbound(stack, US_MOBILE, "Running late during the outage")
    assert (refused.status_code, refused.headers.get("Retry-After")) == (503, "5")
    assert inbound(stack, US_MOBILE, "Running late, see you at 10").status_code == 200
    [forward] = stack.app.wait_for(lambda r: r.path == "/inbound", timeout=30)
    assert forward.field("Body") == "Running late, see you at 10"
