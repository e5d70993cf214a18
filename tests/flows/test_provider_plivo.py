"""Plivo end to end: a stand-in Plivo on 127.0.0.1 takes the gateway's sends and signs its webhooks."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import FR_MOBILE, GB_MOBILE
from tests.flows.provider_standins import (
    PLIVO_AUTH_TOKEN,
    french_opt_out_reply,
    plivo_post,
    service_with,
    settings_for,
    standin,
    stored_inbound,
)
from tests.flows.test_inbound import forwards
from tests.poll import wait_until

OUR_NUMBER = "+12015550124"


@pytest.fixture
def plivo():  # type: ignore[no-untyped-def]
    with standin("plivo") as state:
        yield state


@pytest.fixture
def gateway_overrides(plivo):  # type: ignore[no-untyped-def]
    return settings_for("plivo", plivo.base)


@pytest.fixture
def service(stack):  # type: ignore[no-untyped-def]
    return service_with(stack, (OUR_NUMBER, "plivo"))


def inbound(stack, text: str, *, token: str = PLIVO_AUTH_TOKEN, **extra: str):  # type: ignore[no-untyped-def]
    """Plivo's inbound form: numbers without "+", its own MessageIntent."""
    params = {
        "From": FR_MOBILE.lstrip("+"),
        "To": OUR_NUMBER.lstrip("+"),
        "Text": text,
        "Type": "sms",
        "MessageUUID": str(uuid.uuid4()),
        "Units": "1",
        "TotalRate": "0",
        "TotalAmount": "0",
        "MessageIntent": "optout",
        "PowerpackUUID": "",
        "MediaCount": "0",
        **extra,
    }
    return plivo_post(f"{stack.settings.public_url}/webhooks/plivo/inbound", params, token)


def test_signed_french_stop_opts_out_is_confirmed_through_plivo_and_forwarded_with_opt_out_type(
    stack, plivo, service, shipped
):
    """ARRÊT from +33 opts out; the French confirmation goes out through Plivo from the number written
    to, and the app gets the message with OptOutType STOP, as for a Twilio inbound."""
    response = inbound(stack, "ARRÊT")
    assert response.status_code == 200
    [reply] = wait_until(lambda: plivo.to(FR_MOBILE))
    assert (reply.sender, reply.body) == (OUR_NUMBER, french_opt_out_reply(shipped, FR_MOBILE, OUR_NUMBER))
    [forward] = wait_until(lambda: forwards(stack, FR_MOBILE))
    assert forward.field("OptOutType") == "STOP" and forward.field("Body") == "ARRÊT"
    assert forward.field("To") == OUR_NUMBER


def test_inbound_mms_reaches_the_app_with_twilios_media_fields(stack, plivo, service):
    """Plivo's `MediaCount` and `Media1`… become NumMedia and MediaUrl{N} from 0; Plivo states no
    item's type, so each MediaContentType{N} is there, empty, as an app written for Twilio reads it."""
    front = "https://media.plivo.com/Account/MAXXXXXXXXXXXXXXXXXX/Message/8c0f3c1e/Media/1f4e2a6b"
    back = "https://media.plivo.com/Account/MAXXXXXXXXXXXXXXXXXX/Message/8c0f3c1e/Media/93d0c7aa"
    response = inbound(
        stack, "", Type="mms", Body="my insurance card", MessageIntent="", MediaCount="2", Media1=front, Media2=back
    )
    assert response.status_code == 200
    [forward] = wait_until(lambda: forwards(stack, FR_MOBILE))
    expected = {
        "Body": "my insurance card",
        "NumMedia": "2",
        "MediaUrl0": front,
        "MediaContentType0": "",
        "MediaUrl1": back,
        "MediaContentType1": "",
    }
    assert {name: forward.field(name) for name in expected} == expected


def test_a_forged_plivo_webhook_is_refused_and_nothing_is_stored(stack, plivo, service):
    """A signature made with another token is answered 403 and records nothing."""
    response = inbound(stack, "STOP", token="not-the-auth-token")
    assert response.status_code == 403
    assert stored_inbound(stack) == 0 and not forwards(stack, FR_MOBILE)


def test_a_plivo_delivery_report_moves_the_message_and_the_app_callback_follows(stack, plivo, service):
    """Plivo's signed `delivered` report on the callback URL it was given makes the message delivered."""
    message = stack.client().messages.create(
        messaging_service_sid=service.sid,
        to=FR_MOBILE,
        body="Rendez-vous mardi",
        status_callback=stack.app.url("/status"),
    )
    [sent] = wait_until(lambda: plivo.to(FR_MOBILE))
    assert sent.sender == OUR_NUMBER and sent.callback
    wait_until(lambda: stack.client().messages(message.sid).fetch().status == "sent")
    report = {
        "MessageUUID": sent.provider_sid,
        "To": FR_MOBILE.lstrip("+"),
        "From": OUR_NUMBER.lstrip("+"),
        "Type": "sms",
        "Status": "delivered",
        "Units": "1",
        "TotalRate": "0.0065",
        "TotalAmount": "0.0065",
        "MCC": "208",
        "MNC": "01",
        "ErrorCode": "",
        "Sequence": "3",
        "ParentMessageUUID": sent.provider_sid,
        "PartInfo": "1 of 1",
    }
    assert plivo_post(sent.callback, report).status_code == 200
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status == "delivered")
    stack.app.wait_for(
        lambda r: (
            r.path == "/status" and r.field("MessageSid") == message.sid and r.field("MessageStatus") == "delivered"
        )
    )


def test_plivos_invalid_destination_fails_the_message_with_21211(stack, plivo, service):
    """Plivo's 400 for an invalid `dst` fails the message with Twilio's invalid-To code."""
    plivo.refused.add(GB_MOBILE)
    message = stack.client().messages.create(messaging_service_sid=service.sid, to=GB_MOBILE, body="hello")
    failed = wait_until(lambda: (m := stack.client().messages(message.sid).fetch()).status == "failed" and m)
    assert failed.error_code == 21211


def test_a_plivo_report_with_error_code_80_stores_30003(stack, plivo, service):
    """An `undelivered` report with ErrorCode 80 (destination temporarily unavailable) leaves the
    message undelivered with 30003 (unreachable handset)."""
    message = stack.client().messages.create(messaging_service_sid=service.sid, to=FR_MOBILE, body="Rendez-vous mardi")
    [sent] = wait_until(lambda: plivo.to(FR_MOBILE))
    wait_until(lambda: stack.client().messages(message.sid).fetch().status == "sent")
    report = {
        "MessageUUID": sent.provider_sid,
        "To": FR_MOBILE.lstrip("+"),
        "From": OUR_NUMBER.lstrip("+"),
        "Type": "sms",
        "Status": "undelivered",
        "Units": "1",
        "TotalRate": "0.0065",
        "TotalAmount": "0.0065",
        "MCC": "208",
        "MNC": "01",
        "ErrorCode": "80",
        "Sequence": "3",
        "ParentMessageUUID": sent.provider_sid,
        "PartInfo": "1 of 1",
    }
    assert plivo_post(sent.callback, report).status_code == 200
    failed = wait_until(lambda: (m := stack.client().messages(message.sid).fetch()).status == "undelivered" and m)
    assert failed.error_code == 30003
