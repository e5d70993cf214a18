"""One confirmation per opt-out, whatever the timing: STOPs that arrive together, back to back at a
slow sender, or in two gateway processes at once; and what a signed but unusable webhook gets."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from gateway.app import create_app
from gateway.store.tables import ConsentEvent, InboundReceipt, Message, OptOut
from tests.conftest import BR_MOBILE, DE_MOBILE, ES_MOBILE, FR_MOBILE, GB_MOBILE, JP_MOBILE, MX_MOBILE, US_MOBILE
from tests.flows.conftest import PROVIDER_TOKEN
from tests.flows.server import free_port, serve
from tests.flows.test_inbound import before_a_help, confirmations, forwards, inbound
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until

#: Ten people (phonenumbers' example mobiles and neighbours) who text STOP at one moment.
PEOPLE = [
    US_MOBILE,
    FR_MOBILE,
    DE_MOBILE,
    ES_MOBILE,
    JP_MOBILE,
    BR_MOBILE,
    MX_MOBILE,
    GB_MOBILE,
    "+12015550199",
    "+33612345699",
]


@pytest.fixture
def slow_service(stack):  # type: ignore[no-untyped-def]
    """A service whose only number sends 1 message per second, as a US long code does."""
    number = _register(stack, US_SENDER, mps=1)
    client = stack.client()
    created = client.messaging.v1.services.create(
        friendly_name="Acme Dental", inbound_request_url=stack.app.url("/inbound")
    )
    client.messaging.v1.services(created.sid).phone_numbers.create(phone_number_sid=number["sid"])
    return created


def together(*calls) -> None:  # type: ignore[no-untyped-def]
    """Run the calls at the same moment (a barrier releases them), and wait for all of them."""
    barrier = threading.Barrier(len(calls))
    answers: list[int] = []

    def run(call) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        answers.append(call().status_code)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [200] * len(calls)


def opted_out_rows(stack, person: str) -> list:  # type: ignore[no-untyped-def]
    with Session(stack.engine()) as session:
        return session.exec(select(OptOut).where(OptOut.number == person, OptOut.opted_out)).all()


def consent_events(stack, person: str) -> list:  # type: ignore[no-untyped-def]
    with Session(stack.engine()) as session:
        return session.exec(select(ConsentEvent).where(ConsentEvent.number == person)).all()


def test_two_different_stops_at_once_get_exactly_one_confirmation(stack, slow_service):
    together(lambda: inbound(stack, US_MOBILE, "STOP"), lambda: inbound(stack, US_MOBILE, "Stop"))
    sent, replies = before_a_help(stack, US_MOBILE)
    assert (len(sent), len(replies)) == (2, 1)
    assert len(opted_out_rows(stack, US_MOBILE)) == 1


def test_two_stops_back_to_back_at_one_message_per_second_get_exactly_one_confirmation(stack, slow_service):
    assert inbound(stack, US_MOBILE, "STOP").status_code == 200
    assert inbound(stack, US_MOBILE, "STOP").status_code == 200
    _, [reply] = before_a_help(stack, US_MOBILE)
    assert reply.sender == US_SENDER


def test_the_confirmation_is_never_canceled_by_the_opt_out_it_confirms(stack, slow_service):
    """The first STOP's confirmation is still queued behind the 1 MPS window when the second STOP
    arrives; the second opt-out changes nothing and cancels nothing."""
    inbound(stack, US_MOBILE, "STOP")
    inbound(stack, US_MOBILE, "STOP")
    with Session(stack.engine()) as session:
        replies = session.exec(select(Message).where(Message.direction == "outbound-reply")).all()
    assert [reply.status for reply in replies if reply.status == "canceled"] == []
    assert len(before_a_help(stack, US_MOBILE)[1]) == 1


def test_ten_people_texting_stop_at_once_to_a_slow_sender_get_ten_confirmations(stack, slow_service):
    together(*(lambda person=person: inbound(stack, person, "STOP") for person in PEOPLE))
    wait_until(lambda: all(confirmations(stack, person) for person in PEOPLE), timeout=30)
    assert sorted(len(confirmations(stack, person)) for person in PEOPLE) == [1] * len(PEOPLE)


def test_a_repeated_stop_records_no_second_consent_event(stack, slow_service):
    inbound(stack, US_MOBILE, "STOP")
    inbound(stack, US_MOBILE, "STOP")
    wait_until(lambda: len(forwards(stack, US_MOBILE)) == 2)
    assert [event.opted_out for event in consent_events(stack, US_MOBILE)] == [True]
    assert [forward.field("OptOutType") for forward in forwards(stack, US_MOBILE)] == ["STOP", "STOP"]


def test_app_messages_queued_for_the_person_are_canceled_and_the_confirmation_still_goes(stack, slow_service):
    client = stack.client()
    sids = [
        client.messages.create(
            messaging_service_sid=slow_service.sid,
            to=US_MOBILE,
            body=f"Reminder {i}",
            status_callback=stack.app.url("/status"),
        ).sid
        for i in range(4)
    ]
    together(lambda: inbound(stack, US_MOBILE, "STOP"), lambda: inbound(stack, US_MOBILE, "STOPALL"))
    _, replies = before_a_help(stack, US_MOBILE)
    assert len([r for r in replies if not r.body.startswith("Reminder")]) == 1  # two opt-outs, one answer
    canceled = [sid for sid in sids if client.messages(sid).fetch().status == "canceled"]
    assert canceled and all(client.messages(sid).fetch().error_code == 21610 for sid in canceled)
    for sid in canceled:
        stack.app.wait_for(lambda r, sid=sid: r.field("MessageSid") == sid and r.field("MessageStatus") == "canceled")


def test_two_stops_in_two_gateway_processes_at_once_get_one_confirmation(stack, slow_service):
    """Two API processes on one database (the second without workers, as `serve --workers 2` runs
    them): each commits its own STOP, and only one wins the confirmation."""
    port = free_port()
    second = create_app(stack.settings.with_(port=port, public_url=f"http://127.0.0.1:{port}", workers=False))
    with serve(second, port=port):
        twin = type(stack)(
            f"http://127.0.0.1:{port}",
            second.state.settings,
            stack.provider,
            stack.app,
            stack.account_sid,
            stack.auth_token,
        )
        for _ in range(3):
            person = f"+1201555{uuid.uuid4().int % 10000:04d}"
            together(
                lambda person=person: inbound(stack, person, "STOP"),
                lambda person=person: inbound(twin, person, "STOP"),
            )
            assert len(before_a_help(stack, person)[1]) == 1
            assert len(consent_events(stack, person)) == 1


def _signed(stack, params: dict[str, str]) -> httpx.Response:  # type: ignore[no-untyped-def]
    url = f"{stack.settings.public_url}/webhooks/twilio/inbound"
    signature = RequestValidator(PROVIDER_TOKEN).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})


def _nothing_stored(stack) -> bool:  # type: ignore[no-untyped-def]
    with Session(stack.engine()) as session:
        return not session.exec(select(Message)).all() and not session.exec(select(InboundReceipt)).all()


@pytest.mark.parametrize("missing", ["From", "To", "MessageSid"])
def test_a_signed_webhook_without_a_required_field_is_400_and_stores_nothing(stack, slow_service, missing):
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": US_MOBILE,
        "To": US_SENDER,
        "Body": "STOP",
        "NumMedia": "0",
    }
    del params[missing]
    response = _signed(stack, params)
    assert response.status_code == 400 and response.json()["code"] == 21100 and missing in response.json()["message"]
    assert _nothing_stored(stack)


def test_a_signed_webhook_over_the_size_limit_is_413_and_stores_nothing(stack, slow_service):
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": US_MOBILE,
        "To": US_SENDER,
        "Body": "STOP " * 200_000,
        "NumMedia": "0",
    }
    response = _signed(stack, params)
    assert response.status_code == 413 and response.json()["status"] == 413
    assert _nothing_stored(stack)


def test_a_webhook_just_under_the_size_limit_is_processed(stack, slow_service):
    """The limit is on the body, not a guess: 60 KB of fields (a long body and provider extras) pass."""
    params = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": US_MOBILE,
        "To": US_SENDER,
        "Body": "Hello",
        "NumMedia": "0",
        "Extra": "x" * 60_000,
    }
    assert _signed(stack, params).status_code == 200


def test_a_chunked_webhook_that_grows_over_the_limit_is_413_and_stores_nothing(stack, slow_service):
    """Without a Content-Length the limit is enforced while reading: the body is never read whole."""
    url = f"{stack.settings.public_url}/webhooks/twilio/inbound"

    def chunks():  # type: ignore[no-untyped-def]
        yield b"MessageSid=SM" + uuid.uuid4().hex.encode() + b"&From=%2B12015550123&To=%2B12015550124&Body="
        for _ in range(100):
            yield b"STOP+" * 200

    response = httpx.post(
        url,
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "unchecked"},
    )
    assert response.status_code == 413
    assert _nothing_stored(stack)


def test_a_signed_report_about_a_message_that_is_not_ours_changes_nothing(stack, slow_service):
    url = f"{stack.settings.public_url}/webhooks/twilio/status"
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "MessageStatus": "delivered"}
    signature = RequestValidator(PROVIDER_TOKEN).compute_signature(url, params)
    assert httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}).status_code == 200
    assert _nothing_stored(stack)
