"""The event loop is never held by a sign-in: an account's row is read in a worker thread when the
sign-in cache misses, so a slow database delays that request alone (`accounts.Accounts`).  The
syntax-tree rules of tests/unit/test_http_edges.py cannot see inside `Accounts`; this does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import event
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings

HELD_FOR_AT_MOST = 15.0  # seconds; only a loop blocked by the held read ever waits this long


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """One client held open: one portal, so one event loop, serves all its requests."""
    with TestClient(create_app(settings.with_(workers=False))) as client:
        yield client


def test_a_sign_in_whose_account_read_is_held_does_not_hold_another_request(client):
    """While one sign-in's read of its account row is held, another account's request is answered."""
    app: Starlette = client.app  # type: ignore[assignment]
    cold = app.state.accounts.create("cold")
    warm = app.state.accounts.create("warm")
    client.get("/v1/Services", auth=(warm.sid, warm.auth_token))  # its row is cached now
    reading, release = threading.Event(), threading.Event()

    def hold(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM account" in statement and cold.sid in str(parameters):
            reading.set()
            release.wait(HELD_FOR_AT_MOST)

    event.listen(app.state.engine, "before_cursor_execute", hold)
    try:
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(client.get, "/v1/Services", auth=(cold.sid, cold.auth_token))
            assert reading.wait(HELD_FOR_AT_MOST)
            answered = client.get("/v1/Services", auth=(warm.sid, warm.auth_token))
            assert answered.status_code == 200
            assert not held.done(), "the other request was answered only once the held read ended"
            release.set()
            assert held.result().status_code == 200
    finally:
        release.set()
        event.remove(app.state.engine, "before_cursor_execute", hold)
