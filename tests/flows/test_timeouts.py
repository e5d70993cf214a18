"""Every outbound HTTP call is bounded: a peer that accepts the connection and never answers is cut off
after the GATEWAY_HTTP_* timeouts, for each kind of client (provider sends, app forwards, the
simulator's callbacks)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx2
import pytest

from gateway.providers.base import Credentials, OutboundMessage
from gateway.providers.simulator import SimulatorConfig, create_simulator
from gateway.providers.twilio import PROVIDER as TWILIO
from gateway.runtime import http_timeout
from gateway.settings import Settings
from tests.conftest import US_MOBILE
from tests.flows.server import serve
from tests.flows.test_inbound import inbound
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until

TIMEOUT = 0.5  # GATEWAY_HTTP_TIMEOUT and GATEWAY_HTTP_CONNECT_TIMEOUT in these tests
CUT_OFF_WITHIN = 5.0  # the bound asserted: the timeout, plus a slow machine's scheduling


@dataclass
class Connection:
    request_line: str
    accepted: float
    closed: float | None = None


@dataclass
class SilentPeer:
    """Accepts connections and reads what comes, and never answers: a hung provider or app."""

    url: str = ""
    connections: list[Connection] = field(default_factory=list)

    def cut_off(self, path: str) -> list[Connection]:
        return [c for c in self.connections if f" {path}" in c.request_line and c.closed is not None]


@contextmanager
def silent_peer(trickle: bool = False) -> Iterator[SilentPeer]:
    """A peer that never answers; with `trickle`, one that starts a long answer and sends a byte of it
    every 0.2 s, so no single read ever waits long enough to time out."""
    peer = SilentPeer()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    peer.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop = threading.Event()

    def hold(conn: socket.socket) -> None:
        connection = Connection("", time.monotonic())
        peer.connections.append(connection)
        with conn:
            try:
                while chunk := conn.recv(65536):
                    connection.request_line = connection.request_line or chunk.split(b"\r\n", 1)[0].decode()
                    if trickle:
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
                        while not stop.is_set():
                            conn.sendall(b".")
                            time.sleep(0.2)
            except OSError:  # reset by the client: cut off all the same
                pass
        connection.closed = time.monotonic()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=hold, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def assert_cut_off_by_the_timeout(connection: Connection) -> None:
    assert connection.closed is not None
    assert TIMEOUT * 0.8 <= connection.closed - connection.accepted <= CUT_OFF_WITHIN


@pytest.fixture
def peer() -> Iterator[SilentPeer]:
    with silent_peer() as peer:
        yield peer


@pytest.fixture
def gateway_overrides(peer: SilentPeer) -> dict[str, object]:
    """The provider is the silent peer; the gateway's outbound timeouts are short."""
    return {"twilio_base_url": peer.url, "http_timeout": TIMEOUT, "http_connect_timeout": TIMEOUT}


def test_a_provider_that_never_answers_a_send_is_cut_off_and_the_message_waits_for_a_retry(stack, peer):
    """The send's request is closed after the read timeout; the message is still queued, not lost or failed."""
    number = _register(stack, US_SENDER)
    message = stack.client().messages.create(from_=number["phone_number"], to=US_MOBILE, body="Your code is 1234")
    [connection] = wait_until(lambda: peer.cut_off("/2010-04-01/Accounts/")[:1], timeout=CUT_OFF_WITHIN + 5)
    assert_cut_off_by_the_timeout(connection)
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status in ("queued", "accepted"))


def test_an_app_that_never_answers_a_forward_is_cut_off(stack, peer):
    """The inbound message's forward to the app's webhook is closed after the read timeout."""
    number = _register(stack, US_SENDER, mps=20)
    client = stack.client()
    service = client.messaging.v1.services.create(friendly_name="Acme Dental", inbound_request_url=f"{peer.url}/app")
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number["sid"])
    assert inbound(stack, US_MOBILE, "Running late, see you at 10").status_code == 200
    [connection] = wait_until(lambda: peer.cut_off("/app")[:1], timeout=CUT_OFF_WITHIN + 5)
    assert_cut_off_by_the_timeout(connection)


def test_an_app_that_trickles_its_answer_is_cut_off_at_the_requests_deadline(stack):
    """A byte every 0.2 s never trips the 0.5 s read timeout; the whole request's deadline
    (connect + 2 × timeout) ends it all the same."""
    number = _register(stack, US_SENDER, mps=20)
    client = stack.client()
    with silent_peer(trickle=True) as app:
        service = client.messaging.v1.services.create(friendly_name="Acme Dental", inbound_request_url=f"{app.url}/app")
        client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number["sid"])
        assert inbound(stack, US_MOBILE, "Running late, see you at 10").status_code == 200
        [connection] = wait_until(lambda: app.cut_off("/app")[:1], timeout=CUT_OFF_WITHIN + 5)
    assert connection.closed is not None
    assert 3 * TIMEOUT * 0.8 <= connection.closed - connection.accepted <= CUT_OFF_WITHIN


def test_a_gateway_that_never_answers_the_simulators_status_callback_is_cut_off(peer):
    """The simulator, given the gateway's timeouts, closes a status callback nobody answers."""
    settings = Settings(http_timeout=TIMEOUT, http_connect_timeout=TIMEOUT)
    simulator = create_simulator(
        SimulatorConfig(auth_token="simulator-token", delay=0.0, timeout=http_timeout(settings))
    )
    with serve(simulator) as base:
        message = OutboundMessage(
            sid="SM" + "1" * 32, sender=US_SENDER, to=US_MOBILE, body="hello", status_callback=f"{peer.url}/status"
        )
        request = TWILIO.build_send(message, Credentials("AC" + "0" * 32, "simulator-token", base))
        with httpx2.Client(trust_env=False) as client:
            assert client.send(request).status_code == 201
        [connection] = wait_until(lambda: peer.cut_off("/status")[:1], timeout=CUT_OFF_WITHIN + 5)
    assert_cut_off_by_the_timeout(connection)


def test_every_outbound_client_has_all_four_timeouts_from_settings():
    """Connect and pool from GATEWAY_HTTP_CONNECT_TIMEOUT, read and write from GATEWAY_HTTP_TIMEOUT."""
    timeout = http_timeout(Settings(http_timeout=7.0, http_connect_timeout=3.0))
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (3.0, 7.0, 7.0, 3.0)
