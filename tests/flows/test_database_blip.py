"""The database unavailable between the provider's answer and its record: the answer is kept and written
once the database is back, and the message is not sent again (a second SMS to the person).

The stand-in provider holds each 201 for `HOLD` seconds; the database goes away (as in
test_database_outage.py: PostgreSQL's connections terminated and refused, SQLite locked past the busy
timeout) for `OUTAGE` seconds starting while the requests wait, so every answer comes while it is away.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.dispatch import worker
from gateway.providers.twilio import IDEMPOTENCY_HEADER
from gateway.store.tables import Message
from tests.flows.server import serve
from tests.flows.test_database_outage import BUSY_TIMEOUT, database_down, send
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until

HOLD = 2.0
OUTAGE = 4.0
MESSAGES = 3


@pytest.fixture
def requests() -> Iterator[tuple[str, Counter[str]]]:
    """A Twilio stand-in answering 201 after `HOLD` seconds; counts every request by idempotency key,
    repeats included (it does not honour the key, as some providers do not)."""
    seen: Counter[str] = Counter()

    async def create(request: Request) -> JSONResponse:
        seen[request.headers[IDEMPOTENCY_HEADER]] += 1
        await asyncio.sleep(HOLD)
        return JSONResponse({"sid": "SM" + uuid.uuid4().hex, "status": "queued"}, status_code=201)

    app = Starlette(routes=[Route("/2010-04-01/Accounts/{account}/Messages.json", create, methods=["POST"])])
    with serve(app) as url:
        yield url, seen


@pytest.fixture
def gateway_overrides(database_url: str, requests: tuple[str, Counter[str]]) -> dict[str, object]:
    overrides: dict[str, object] = {"twilio_base_url": requests[0]}
    if database_url.startswith("sqlite"):
        overrides["database_url"] = f"{database_url}?timeout={BUSY_TIMEOUT}"
    return overrides


def statuses(stack, sids: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with Session(stack.engine()) as session:
        rows = session.execute(select(Message.sid, Message.status).where(Message.sid.in_(sids)))  # type: ignore[attr-defined]
        return {sid: status for sid, status in rows}


def test_an_answer_that_came_while_the_database_was_away_is_recorded_and_not_sent_again(stack, requests):
    _, seen = requests
    _register(stack, US_SENDER, mps=20)
    sids = [send(stack, f"blip {i} {uuid.uuid4().hex[:6]}").json()["sid"] for i in range(MESSAGES)]
    wait_until(lambda: set(seen) == set(sids), timeout=10, message=lambda: dict(seen))
    with database_down(stack.settings.database_url):
        time.sleep(OUTAGE)  # the answers come HOLD seconds after the requests, in the middle of it
    wait_until(
        lambda: set(statuses(stack, sids).values()) == {"sent"}, timeout=20, message=lambda: statuses(stack, sids)
    )
    time.sleep(HOLD + 0.5)  # long enough for a repeated request to have reached the stand-in
    assert seen == dict.fromkeys(sids, 1)


def test_an_answer_the_database_never_took_is_reported_lost_when_the_gateway_stops(
    stack, requests, caplog, monkeypatch
):
    """Shutdown waits `STOP_WAIT` for the database, then names the answer it could not record and
    stops, instead of hanging on it; the message stays `sending` for the sender's next holder."""
    _, seen = requests
    monkeypatch.setattr(worker, "STOP_WAIT", 0.5)
    caplog.set_level(logging.WARNING, logger="gateway.dispatch")
    _register(stack, US_SENDER, mps=20)
    sid = send(stack, f"lost {uuid.uuid4().hex[:6]}").json()["sid"]
    wait_until(lambda: sid in seen, timeout=10, message=lambda: dict(seen))
    with database_down(stack.settings.database_url):
        wait_until(lambda: f"did not take the outcome of {sid}" in caplog.text, timeout=10, message=lambda: caplog.text)
        started = time.monotonic()
        stack.stop()
        stopped_in = time.monotonic() - started
    lost = [r for r in caplog.records if r.levelno == logging.CRITICAL and sid in r.getMessage()]
    assert len(lost) == 1 and "accepted as SM" in lost[0].getMessage()
    assert stopped_in < 5
    assert statuses(stack, [sid]) == {sid: "sending"}
