"""Webhook trust boundaries: a provider's secret vouches only for that provider's numbers and
messages, a provider without a secret has every webhook refused, and a number has one owner."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from gateway.store.tables import ConsentEvent, Message, MessageEvent, OptOut
from tests.conftest import GB_MOBILE, US_MOBILE
from tests.flows.conftest import PROVIDER_TOKEN
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until

PUBLISHED_SIM_TOKEN = "simulator-token"  # the simulator token earlier READMEs published as the default


def post_signed(
    stack,
    provider: str,
    kind: str,
    params: dict[str, str],
    token: str,  # type: ignore[no-untyped-def]
    query: str = "",
) -> httpx.Response:
    url = f"{stack.settings.public_url}/webhooks/{provider}/{kind}{query}"
    signature = RequestValidator(token).compute_signature(url, params)
    return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})


def text_from(person: str, to: str, body: str) -> dict[str, str]:
    return {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "From": person,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        "ApiVersion": "2010-04-01",
        "SmsStatus": "received",
    }


def rows(stack, model):  # type: ignore[no-untyped-def]
    with Session(stack.engine()) as session:
        return session.exec(select(model)).all()


def opted_out(stack, account_sid: str, token: str, number: str) -> bool:  # type: ignore[no-untyped-def]
    response = httpx.get(f"{stack.url}/v1/OptOuts", params={"PhoneNumber": number}, auth=(account_sid, token))
    assert response.status_code == 200, response.text
    return any(entry["state"] == "opted_out" for entry in response.json()["opt_outs"])


@pytest.mark.gateway(simulator=True, simulator_token=PUBLISHED_SIM_TOKEN)
def test_a_simulator_signed_stop_to_a_twilio_number_is_refused_and_stores_nothing(stack):
    _register(stack, US_SENDER)  # Provider=twilio (the stack's default)
    response = post_signed(stack, "sim", "inbound", text_from(US_MOBILE, US_SENDER, "STOP"), PUBLISHED_SIM_TOKEN)
    assert response.status_code == 403 and response.json()["code"] == 20403
    assert rows(stack, Message) == [] and rows(stack, OptOut) == [] and rows(stack, ConsentEvent) == []
    assert not opted_out(stack, stack.account_sid, stack.auth_token, US_MOBILE)


@pytest.mark.gateway(simulator=True, simulator_token=PUBLISHED_SIM_TOKEN)
def test_a_simulator_signed_start_cannot_opt_a_twilio_number_back_in(stack):
    _register(stack, US_SENDER)
    assert (
        post_signed(stack, "twilio", "inbound", text_from(US_MOBILE, US_SENDER, "STOP"), PROVIDER_TOKEN).status_code
        == 200
    )
    forged = post_signed(stack, "sim", "inbound", text_from(US_MOBILE, US_SENDER, "START"), PUBLISHED_SIM_TOKEN)
    assert forged.status_code == 403
    assert opted_out(stack, stack.account_sid, stack.auth_token, US_MOBILE)
    assert [event.opted_out for event in rows(stack, ConsentEvent)] == [True]


@pytest.mark.gateway(simulator=True, simulator_token=PUBLISHED_SIM_TOKEN)
def test_a_simulator_signed_status_report_about_a_twilio_message_is_refused(stack):
    _register(stack, US_SENDER)
    sent = stack.client().messages.create(from_=US_SENDER, to=GB_MOBILE, body="Your table is ready")
    wait_until(lambda: [m for m in rows(stack, Message) if m.sid == sent.sid and m.status == "delivered"])
    events_before = len(rows(stack, MessageEvent))
    report = {"MessageSid": "SM" + uuid.uuid4().hex, "MessageStatus": "undelivered", "ErrorCode": "30003"}
    response = post_signed(stack, "sim", "status", report, PUBLISHED_SIM_TOKEN, query=f"?ref={sent.sid}")
    assert response.status_code == 403 and response.json()["code"] == 20403
    assert len(rows(stack, MessageEvent)) == events_before


def test_without_a_twilio_auth_token_a_webhook_signed_with_the_empty_key_is_refused(stack):
    """The number was registered while the token was set; the operator then removed it."""
    _register(stack, US_SENDER)
    stack.restart(twilio_auth_token="")
    response = post_signed(stack, "twilio", "inbound", text_from(US_MOBILE, US_SENDER, "STOP"), "")
    assert response.status_code == 403 and response.json()["code"] == 20003
    assert rows(stack, Message) == [] and rows(stack, OptOut) == []


def test_readiness_reports_numbers_whose_webhooks_cannot_be_verified_without_going_unready(stack):
    """What accounts registered never takes an instance out of service; the stranded numbers are
    reported for the operator instead (issue 21: any account could make every instance unready)."""
    _register(stack, US_SENDER)
    stack.restart(twilio_auth_token="")
    ready = httpx.get(f"{stack.url}/readyz")
    assert ready.status_code == 200 and ready.json()["webhooks"]["twilio"] == "refused: no secret configured"
    assert ready.json()["stranded_senders"]["twilio"]["senders"] == 1
    assert "GATEWAY_TWILIO_AUTH_TOKEN" in ready.json()["stranded_senders"]["twilio"]["set"]


def test_a_provider_without_a_secret_refuses_even_a_correct_looking_webhook(stack):
    """The stack runs without the simulator, so `sim` has no secret at all."""
    _register(stack, US_SENDER)
    response = post_signed(stack, "sim", "inbound", text_from(US_MOBILE, US_SENDER, "STOP"), PUBLISHED_SIM_TOKEN)
    assert response.status_code == 403 and rows(stack, Message) == []


def test_a_number_registered_by_one_account_is_refused_to_another(stack):
    _register(stack, US_SENDER)
    other = stack.app_state.accounts.create("another tenant")
    response = httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{other.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": US_SENDER, "Provider": "twilio"},
        auth=(other.sid, other.auth_token),
    )
    assert response.status_code == 400 and response.json()["code"] == 21422
    assert "another account" in response.json()["message"]


def test_an_inbound_stop_lands_only_in_the_account_that_owns_the_number(stack):
    _register(stack, US_SENDER)
    other = stack.app_state.accounts.create("another tenant")
    httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{other.sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": US_SENDER, "Provider": "twilio"},
        auth=(other.sid, other.auth_token),
    )
    assert (
        post_signed(stack, "twilio", "inbound", text_from(US_MOBILE, US_SENDER, "STOP"), PROVIDER_TOKEN).status_code
        == 200
    )
    assert opted_out(stack, stack.account_sid, stack.auth_token, US_MOBILE)
    assert not opted_out(stack, other.sid, other.auth_token, US_MOBILE)
    assert {m.account_sid for m in rows(stack, Message)} == {stack.account_sid}
