"""One account's app holds back no other account's forwards, and what a tenant reads about a failed
delivery is a generic reason, never the HTTP client's words about the gateway's network.

A person texts account A, then account B. Forwards keep their order per account and person, so
B's forward goes at once, whatever A's app does: answers 500 for a day, or sits behind a URL the
HTTP client cannot even build."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session

from gateway.store.tables import Service
from tests.conftest import US_MOBILE
from tests.flows.server import free_port
from tests.flows.test_inbound import inbound
from tests.flows.test_outbound import US_SENDER, _register
from tests.flows.test_timeouts import TIMEOUT, silent_peer
from tests.poll import wait_until

B_SENDER = "+12015550125"
# URLs httpx2 cannot request: it builds no request for a CR/LF inside, an unclosed IPv6 bracket or a
# host that is no IDNA name, and sends none to a scheme it does not speak. The API refuses them when
# they are saved; rows saved before that still hold them.
MALFORMED = pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/in\r\nbox", "http://[::1/x", "http://\N{SNOWMAN}.example/inbound", "ftp://127.0.0.1/inbound"],
    ids=["crlf", "bracket", "idna", "scheme"],
)


def service_of(stack, sender: str, url: str):  # type: ignore[no-untyped-def]
    """A Messaging Service of the stack's account, on its own number, forwarding to `url`."""
    number = _register(stack, sender, mps=20)
    client = stack.client()
    service = client.messaging.v1.services.create(friendly_name="Clinic", inbound_request_url=url)
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number["sid"])
    return service


def account_b(stack):  # type: ignore[no-untyped-def]
    """Another tenant of the same gateway, whose number forwards to the stand-in app's /b-inbound."""
    other = stack.app_state.accounts.create("tenant B")
    service_of(
        dataclasses.replace(stack, account_sid=other.sid, auth_token=other.auth_token),
        B_SENDER,
        stack.app.url("/b-inbound"),
    )


def dead_letters(stack) -> list[dict]:  # type: ignore[no-untyped-def]
    return httpx.get(f"{stack.url}/v1/DeadLetters", auth=(stack.account_sid, stack.auth_token)).json()["dead_letters"]


def store_inbound_url(stack, service_sid: str, url: str) -> None:  # type: ignore[no-untyped-def]
    """Put `url` in the service's row the way a gateway that did not yet check URLs saved it, and
    start the gateway again on that database, as an upgrade does."""
    with Session(stack.engine()) as session:
        service = session.get(Service, service_sid)
        assert service is not None
        service.inbound_request_url = url
        session.add(service)
        session.commit()
    stack.restart()


def test_a_failing_app_of_one_account_does_not_hold_back_another_accounts_forward(stack):
    """A's app answers 503 and A's forward is retried for the 24-hour horizon; B's goes meanwhile."""
    stack.app.failing_paths.add("/a-inbound")
    service_of(stack, US_SENDER, stack.app.url("/a-inbound"))
    account_b(stack)
    inbound(stack, US_MOBILE, "Running late", to=US_SENDER)
    stack.app.wait_for(lambda r: r.path == "/a-inbound")
    inbound(stack, US_MOBILE, "Running late", to=B_SENDER)
    stack.app.wait_for(lambda r: r.path == "/b-inbound" and r.field("From") == US_MOBILE)
    assert dead_letters(stack) == []  # A's forward is still being retried, not out of the way


@MALFORMED
def test_a_forward_to_a_url_that_cannot_be_requested_does_not_hold_back_another_accounts(stack, url):
    """The request for A's forward cannot be built; B's forward from the same person goes all the same."""
    service = service_of(stack, US_SENDER, stack.app.url("/a-inbound"))
    account_b(stack)
    store_inbound_url(stack, service.sid, url)
    inbound(stack, US_MOBILE, "Running late", to=US_SENDER)
    inbound(stack, US_MOBILE, "Running late", to=B_SENDER)
    [forward] = stack.app.wait_for(lambda r: r.path == "/b-inbound" and r.field("From") == US_MOBILE)
    assert forward.field("Body") == "Running late"
    assert not [r for r in stack.app.received if r.path == "/a-inbound"]  # A's URL was never requested


@MALFORMED
def test_a_forward_to_a_url_that_cannot_be_requested_is_a_dead_letter_at_once(stack, url):
    """Such a URL never works, however long it is retried: one attempt, recorded, then a dead letter."""
    service = service_of(stack, US_SENDER, stack.app.url("/a-inbound"))
    store_inbound_url(stack, service.sid, url)
    inbound(stack, US_MOBILE, "Running late")
    [dead] = wait_until(lambda: dead_letters(stack))
    assert (dead["url"], dead["attempts"], dead["last_error"]) == (url, 1, "invalid URL")


def test_a_dead_letter_says_connect_failed_and_the_log_says_where(stack, caplog):
    """A refused connection reads `connect failed`: the tenant learns nothing of which ports answer
    inside the gateway's network; the operator's log keeps the client's error."""
    caplog.set_level(logging.WARNING, logger="gateway.forwarding")
    service_of(stack, US_SENDER, f"http://127.0.0.1:{free_port()}/inbound")  # nothing listens there
    stack.app_state.forwarder.max_age = timedelta(seconds=0)
    inbound(stack, US_MOBILE, "Running late")
    [dead] = wait_until(lambda: dead_letters(stack))
    assert dead["last_error"] == "connect failed"
    assert any(
        "connect failed (ConnectError: " in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    )


@pytest.mark.gateway(http_timeout=TIMEOUT, http_connect_timeout=TIMEOUT)
def test_a_dead_letter_says_timeout_for_an_app_that_never_answers(stack):
    with silent_peer() as app:
        service_of(stack, US_SENDER, f"{app.url}/inbound")
        stack.app_state.forwarder.max_age = timedelta(seconds=0)
        inbound(stack, US_MOBILE, "Running late")
        [dead] = wait_until(lambda: dead_letters(stack))
    assert dead["last_error"] == "timeout"


def test_a_forward_that_cannot_be_signed_is_recorded_as_request_failed_with_the_traceback_logged(stack, caplog):
    """A WebhookSecret that is no base64 (the API keeps it as given) breaks signing, which is no
    network error: the attempt is recorded all the same, and the operator gets the traceback."""
    caplog.set_level(logging.WARNING, logger="gateway.forwarding")
    service = service_of(stack, US_SENDER, stack.app.url("/inbound"))
    updated = httpx.post(
        f"{stack.url}/v1/Services/{service.sid}",
        data={"InboundFormat": "json", "WebhookSecret": "whsec_abc"},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert updated.status_code == 200, updated.text
    stack.app_state.forwarder.max_age = timedelta(seconds=0)
    inbound(stack, US_MOBILE, "Running late")
    [dead] = wait_until(lambda: dead_letters(stack))
    assert (dead["attempts"], dead["last_error"]) == (1, "request failed")
    assert any(r.exc_info and "request failed" in r.getMessage() for r in caplog.records)
