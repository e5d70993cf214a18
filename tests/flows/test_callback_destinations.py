"""The callback destination policy where connections are made: a gateway under uvicorn forwards an
inbound message to a stand-in app on 127.0.0.1, and only reaches it when the policy allows the
address the app's host resolves to (SQLite and PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from gateway.observability import logs
from gateway.store.tables import Delivery, Service
from tests.conftest import US_MOBILE
from tests.flows.conftest import Stack
from tests.flows.server import serve
from tests.flows.test_inbound import inbound
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until


def service_for(stack: Stack, **urls: str) -> str:
    """A service with US_SENDER in its pool and these URLs, saved through the API."""
    number = _register(stack, US_SENDER, mps=20)
    response = httpx.post(
        f"{stack.url}/v1/Services",
        data={"FriendlyName": "Acme Dental", **urls},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.status_code == 201, response.text
    sid: str = response.json()["sid"]
    added = httpx.post(
        f"{stack.url}/v1/Services/{sid}/PhoneNumbers",
        data={"PhoneNumberSid": number["sid"]},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert added.status_code == 201, added.text
    return sid


def deliveries(stack: Stack) -> list[Delivery]:
    with Session(stack.engine()) as session:
        return list(session.execute(select(Delivery)).scalars())


def dead_letters(stack: Stack) -> list[dict[str, object]]:
    answer = httpx.get(f"{stack.url}/v1/DeadLetters", auth=(stack.account_sid, stack.auth_token))
    letters: list[dict[str, object]] = answer.json()["dead_letters"]
    return letters


@pytest.mark.gateway(callback_allow_networks="", forward_retry_horizon=1.0)
def test_a_saved_name_that_resolves_to_loopback_is_never_connected_to(stack: Stack) -> None:
    """A row saved before the policy existed, naming `localhost`: resolved at connect time to 127.0.0.1,
    refused there; the app receives nothing and the dead letter does not name the address."""
    sid = service_for(stack)
    port = urlsplit(stack.app.base).port
    with Session(stack.engine()) as session:
        session.execute(
            update(Service)
            .where(col(Service.sid) == sid)
            .values(inbound_request_url=f"http://localhost:{port}/inbound")
        )
        session.commit()
    stack.restart()  # nothing the running gateway remembers of the service stands in for the row
    assert inbound(stack, US_MOBILE, "Hello?").status_code == 200
    [dead] = wait_until(lambda: dead_letters(stack), message=lambda: deliveries(stack))
    assert stack.app.received == []
    assert "127.0.0.1" not in str(dead["last_error"]) and "localhost" not in str(dead["last_error"])


@pytest.mark.gateway(forward_retry_horizon=1.0)
def test_a_host_that_does_not_resolve_is_a_connect_failed_dead_letter_not_naming_it(stack: Stack) -> None:
    """`.invalid` never resolves (RFC 6761): the attempt fails at connect time like a refused
    connection, and the tenant's dead letter says only that."""
    service_for(stack, InboundRequestUrl="https://app.invalid/inbound")
    assert inbound(stack, US_MOBILE, "Hello?").status_code == 200
    [dead] = wait_until(lambda: dead_letters(stack), message=lambda: deliveries(stack))
    assert dead["last_error"] == "connect failed"


def test_a_name_resolving_into_an_allowed_network_is_reached_under_its_own_host(stack: Stack) -> None:
    """With 127.0.0.0/8 allowed (the fixtures' setting), `localhost` is reached at a checked address,
    and the app sees the Host it was given."""
    port = urlsplit(stack.app.base).port
    service_for(stack, InboundRequestUrl=f"http://localhost:{port}/inbound")
    assert inbound(stack, US_MOBILE, "Hello?").status_code == 200
    [forward] = stack.app.wait_for(lambda r: r.path == "/inbound")
    assert forward.headers["host"] == f"localhost:{port}" and forward.field("Body") == "Hello?"


@pytest.fixture
def redirector(stack: Stack) -> Iterator[str]:
    """A stand-in app that answers every request with 302 to the stack's app."""

    async def moved(request: Request) -> RedirectResponse:
        return RedirectResponse(stack.app.url("/inbound"), status_code=302)

    with serve(Starlette(routes=[Route("/{path:path}", moved, methods=["GET", "POST"])])) as base:
        yield base


def test_a_redirect_from_the_app_is_not_followed(stack: Stack, redirector: str) -> None:
    """The app's 302 is its answer: the address it points to receives nothing."""
    service_for(stack, InboundRequestUrl=f"{redirector}/inbound")
    assert inbound(stack, US_MOBILE, "Hello?").status_code == 200
    wait_until(lambda: [d for d in deliveries(stack) if d.attempts >= 1], message=lambda: deliveries(stack))
    assert stack.app.received == []


@pytest.mark.gateway(forward_retry_horizon=1.0)
def test_a_callbacks_credentials_never_reach_the_log(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    """The dead-letter warning names the URL without its `user:password@`."""
    logs.install(caplog.handler)
    caplog.set_level(logging.DEBUG)
    plain = stack.app.url("/inbound")
    service_for(stack, InboundRequestUrl=plain.replace("http://", "http://acme:s3cret-pass@"))
    stack.app.status = 503
    assert inbound(stack, US_MOBILE, "Hello?").status_code == 200
    wait_until(lambda: "dead letter" in caplog.text, message=lambda: caplog.text)
    assert plain in caplog.text and "s3cret-pass" not in caplog.text
    assert stack.app.received[0].headers["authorization"].startswith("Basic ")  # the app still got them
