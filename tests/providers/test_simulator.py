"""The provider simulator under real uvicorn, driven through the Twilio adapter and watched by a callback receiver."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx2
import phonenumbers
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from gateway.providers.base import Credentials, OutboundMessage, Rejected, Retryable, Status, Throttled, parse_form
from gateway.providers.simulator import CALLBACK_ATTEMPTS, Simulator, SimulatorConfig, create_simulator
from gateway.providers.twilio import PROVIDER
from tests.flows.server import free_port, serve
from tests.poll import wait_until


def example_mobile(region: str) -> str:
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


US_MOBILE = example_mobile("US")  # delivers
FR_MOBILE = example_mobile("FR")  # unreachable handset: 30003
INVALID = "+15550100"  # the 555 range: 21211
SENDER = "+15005550006"
TOKEN = "sim-test-token"
ACCOUNT_SID = "AC" + "1" * 32
DELAY = 0.02


@dataclass
class Callbacks:
    """What the stand-in application received on its status-callback URL."""

    url: str = ""
    calls: list[tuple[dict[str, str], dict[str, str]]] = field(default_factory=list)  # (headers, form)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:
        wait_until(
            lambda: len(self.calls) >= count, timeout, message=lambda: f"expected {count} callbacks, got {self.calls}"
        )
        return [form for _, form in self.calls]


@pytest.fixture
def callbacks() -> Iterator[Callbacks]:
    received = Callbacks()

    async def status(request: Request) -> Response:
        received.calls.append((dict(request.headers), dict(parse_form(await request.body()))))
        return Response(status_code=204)

    with serve(Starlette(routes=[Route("/status", status, methods=["POST"])])) as base:
        received.url = f"{base}/status"
        yield received


@pytest.fixture
def simulator() -> Iterator[tuple[Simulator, str]]:
    app = create_simulator(SimulatorConfig(auth_token=TOKEN, delay=DELAY, failures={"+1555": 21211, "+33": 30003}))
    with serve(app) as base:
        yield app.state.sim, base


def send_via(
    simulator: tuple[Simulator, str],
    *,
    token: str = TOKEN,
    sid: str = "msg_1",
    to: str = US_MOBILE,
    callback: str | None = None,
) -> httpx2.Response:
    """Send through the Twilio adapter's request, as the dispatcher would."""
    _, base = simulator
    message = OutboundMessage(sid=sid, sender=SENDER, to=to, body="hello", status_callback=callback)
    with httpx2.Client(trust_env=False) as client:
        return client.send(PROVIDER.build_send(message, Credentials(ACCOUNT_SID, token, base)))


def statuses(forms: list[dict[str, str]]) -> list[str]:
    return [form["MessageStatus"] for form in forms]


def test_send_is_answered_201_with_twilio_message_json(simulator: tuple[Simulator, str]) -> None:
    """A send gets 201 with an SM sid, status queued and RFC 2822 dates, read back as QUEUED."""
    response = send_via(simulator)
    payload = response.json()
    assert response.status_code == 201
    assert re.fullmatch(r"SM[0-9a-f]{32}", payload["sid"])
    assert parsedate_to_datetime(payload["date_created"]).utcoffset() is not None
    assert (payload["to"], payload["from"], payload["account_sid"]) == (US_MOBILE, SENDER, ACCOUNT_SID)
    assert PROVIDER.read_send(response).status is Status.QUEUED


def test_send_is_recorded_with_its_fields(simulator: tuple[Simulator, str]) -> None:
    """The accepted message is in `received` with its sid, numbers, body and idempotency key."""
    sim, _ = simulator
    sid = send_via(simulator, sid="msg_rec").json()["sid"]
    [received] = sim.received
    assert (received.sid, received.sender, received.to, received.body, received.idempotency_key) == (
        sid,
        SENDER,
        US_MOBILE,
        "hello",
        "msg_rec",
    )


def test_callbacks_arrive_sent_then_delivered(simulator: tuple[Simulator, str], callbacks: Callbacks) -> None:
    """A deliverable number reports sent, then delivered, with Twilio's fields and no ErrorCode."""
    sid = send_via(simulator, callback=callbacks.url).json()["sid"]
    forms = callbacks.wait_for(2)
    assert statuses(forms) == ["sent", "delivered"]
    assert {form["MessageSid"] for form in forms} == {form["SmsSid"] for form in forms} == {sid}
    assert all(form["AccountSid"] == ACCOUNT_SID and form["ApiVersion"] == "2010-04-01" for form in forms)
    assert not any("ErrorCode" in form for form in forms)


def test_callbacks_are_signed_with_the_auth_token(simulator: tuple[Simulator, str], callbacks: Callbacks) -> None:
    """Each callback's X-Twilio-Signature validates with twilio's RequestValidator over the callback URL."""
    send_via(simulator, callback=callbacks.url)
    callbacks.wait_for(2)
    validator = RequestValidator(TOKEN)
    assert all(
        validator.validate(callbacks.url, form, headers["x-twilio-signature"]) for headers, form in callbacks.calls
    )


def test_idempotent_repeat_returns_the_same_message_once(
    simulator: tuple[Simulator, str], callbacks: Callbacks
) -> None:
    """A repeat with the same idempotency token returns the same sid, is not recorded and not delivered twice
    (checked once a later message's callbacks, which come after any the repeat caused, are in)."""
    sim, _ = simulator
    first = send_via(simulator, sid="msg_same", callback=callbacks.url).json()
    second = send_via(simulator, sid="msg_same", callback=callbacks.url).json()
    assert second == first
    later = send_via(simulator, sid="msg_later", callback=callbacks.url).json()["sid"]
    wait_until(
        lambda: any(form["MessageSid"] == later and form["MessageStatus"] == "delivered" for _, form in callbacks.calls)
    )
    assert [r.idempotency_key for r in sim.received] == ["msg_same", "msg_later"]
    assert statuses([form for _, form in callbacks.calls if form["MessageSid"] == first["sid"]]) == [
        "sent",
        "delivered",
    ]


def test_invalid_prefix_is_rejected_with_400_and_21211(simulator: tuple[Simulator, str]) -> None:
    """A number under a 21xxx prefix is refused synchronously with Twilio's JSON error, read as Rejected."""
    sim, _ = simulator
    response = send_via(simulator, to=INVALID)
    assert (response.status_code, response.json()["code"]) == (400, 21211)
    with pytest.raises(Rejected) as caught:
        PROVIDER.read_send(response)
    assert caught.value.code == 21211
    assert sim.received == []


def test_unreachable_prefix_ends_undelivered_with_30003(simulator: tuple[Simulator, str], callbacks: Callbacks) -> None:
    """A number under a 30003 prefix is accepted, then reports sent and undelivered with ErrorCode 30003."""
    assert send_via(simulator, to=FR_MOBILE, callback=callbacks.url).status_code == 201
    forms = callbacks.wait_for(2)
    assert statuses(forms) == ["sent", "undelivered"]
    assert forms[1]["ErrorCode"] == "30003"


def test_throttle_answers_429_read_as_throttled(simulator: tuple[Simulator, str]) -> None:
    """After throttle(1, 0.5) the next send is a 429 whose Retry-After the adapter reads; the one after passes."""
    sim, _ = simulator
    sim.throttle(1, retry_after=0.5)
    with pytest.raises(Throttled) as caught:
        PROVIDER.read_send(send_via(simulator, sid="msg_t"))
    assert caught.value.retry_after == 0.5
    assert send_via(simulator, sid="msg_t").status_code == 201


def test_fail_next_answers_503_read_as_retryable(simulator: tuple[Simulator, str]) -> None:
    """After fail_next(1) the next send is a 503 the adapter reads as Retryable, and nothing is recorded."""
    sim, _ = simulator
    sim.fail_next(1)
    response = send_via(simulator)
    assert response.status_code == 503
    with pytest.raises(Retryable):
        PROVIDER.read_send(response)
    assert sim.received == []


def test_bad_token_is_refused_with_401_and_20003(simulator: tuple[Simulator, str]) -> None:
    """A send authenticated with the wrong auth token gets 401 with code 20003."""
    response = send_via(simulator, token="wrong-token")
    assert (response.status_code, response.json()["code"]) == (401, 20003)


def test_callback_to_a_closed_port_is_retried_then_given_up(
    simulator: tuple[Simulator, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A callback URL that refuses connections is tried CALLBACK_ATTEMPTS times, then logged as given up."""
    caplog.set_level(logging.INFO, logger="gateway.providers.simulator")
    url = f"http://127.0.0.1:{free_port()}/status"  # nothing listens there
    assert send_via(simulator, callback=url).status_code == 201
    wait_until(lambda: "gave up" in caplog.text, 5, message=lambda: caplog.text)
    messages = [record.getMessage() for record in caplog.records]
    first_callback = messages[: next(i for i, m in enumerate(messages) if "gave up" in m)]
    assert sum("attempt" in m for m in first_callback) == CALLBACK_ATTEMPTS


def test_twilio_sdk_can_send_through_the_simulator(simulator: tuple[Simulator, str]) -> None:
    """The official twilio-python client, pointed at the simulator, creates a message and reads it back."""
    _, base = simulator
    http_client = TwilioHttpClient(timeout=5)
    http_client.session.trust_env = False
    # A non-empty environment, so TWILIO_EDGE/TWILIO_REGION from the real one cannot mangle the URL.
    client = Client(ACCOUNT_SID, TOKEN, http_client=http_client, environment={"TWILIO_UNSET": "1"})
    client.api.base_url = base
    created = client.messages.create(to=US_MOBILE, from_=SENDER, body="hello")
    assert (created.sid[:2], created.status, created.to) == ("SM", "queued", US_MOBILE)
    assert created.date_created is not None


def test_credentials_that_are_not_ascii_base64_are_refused_with_401(simulator: tuple[Simulator, str]) -> None:
    """Latin-1 bytes after `Basic ` are wrong credentials, not a 500 (the demo serves the simulator)."""
    _, base = simulator
    response = httpx2.post(
        f"{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
        data={"From": SENDER, "To": US_MOBILE, "Body": "hi"},
        headers={"Authorization": b"Basic \xe9t\xe9"},
    )
    assert (response.status_code, response.json()["code"]) == (401, 20003)
