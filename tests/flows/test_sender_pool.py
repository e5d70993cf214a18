"""A Messaging Service's pool changes while people are being messaged: sticky mappings move as
Twilio documents, pinned ones never do, and a sender the account already has is refused."""

from __future__ import annotations

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from tests.conftest import GB_MOBILE, JP_MOBILE
from tests.flows.test_outbound import make_service, received_by
from tests.poll import wait_until

SF_SENDER = "+14155550100"  # a San Francisco number
SF_RECIPIENT = "+14155550147"
GB_SENDER = "+447400123457"
US_SHORT_CODE, GB_SHORT_CODE = "12345", "60006"


def send(stack, service, to: str, body: str):  # type: ignore[no-untyped-def]
    """Send through the service with the twilio SDK; the stand-in Twilio's record of it."""
    stack.client().messages.create(messaging_service_sid=service.sid, to=to, body=body)
    [sent] = wait_until(lambda: [r for r in received_by(stack, to) if r.body == body])
    return sent


def add_number(stack, service, number: str) -> None:  # type: ignore[no-untyped-def]
    client = stack.client()
    sid = client.incoming_phone_numbers.create(phone_number=number).sid
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=sid)


def add_short_code(stack, service_sid: str, code: str, country: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    """The gateway creates short codes in the pool (`ShortCode`, `CountryCode`): Twilio's SDK sends a
    ShortCodeSid instead, so this goes over HTTP."""
    return httpx.post(
        f"{stack.url}/v1/Services/{service_sid}/ShortCodes",
        data={"ShortCode": code, "CountryCode": country, "Provider": "twilio"},
        auth=(stack.account_sid, stack.auth_token),
    )


def mapping(stack, service, to: str) -> dict:  # type: ignore[no-untyped-def]
    response = httpx.get(
        f"{stack.url}/v1/Services/{service.sid}/StickySenders/{to}", auth=(stack.account_sid, stack.auth_token)
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_recipient_on_a_us_fallback_number_moves_to_a_number_of_their_country_when_one_joins(stack):
    """A British recipient first sent from the US number is remapped to a British number added later."""
    service = make_service(stack, SF_SENDER, sticky_sender=True)
    assert send(stack, service, GB_MOBILE, "first").sender == SF_SENDER
    add_number(stack, service, GB_SENDER)
    assert send(stack, service, GB_MOBILE, "second").sender == GB_SENDER
    assert mapping(stack, service, GB_MOBILE)["sender"] == GB_SENDER
    assert send(stack, service, GB_MOBILE, "third").sender == GB_SENDER


def test_a_recipient_on_a_foreign_number_moves_to_a_short_code_of_their_country_when_one_joins(stack):
    """A short code of the recipient's country takes over from a foreign number, before any local number."""
    service = make_service(stack, SF_SENDER, sticky_sender=True)
    send(stack, service, GB_MOBILE, "first")
    assert add_short_code(stack, service.sid, GB_SHORT_CODE, "GB").status_code == 201
    add_number(stack, service, GB_SENDER)
    assert send(stack, service, GB_MOBILE, "second").sender == GB_SHORT_CODE
    assert mapping(stack, service, GB_MOBILE)["sender"] == GB_SHORT_CODE


def test_a_recipient_on_a_number_of_their_country_keeps_it_when_a_short_code_of_their_country_joins(stack):
    """The README's rule (Twilio's support article): a mapping to a local number is not broken by a new short code."""
    service = make_service(stack, SF_SENDER, sticky_sender=True)
    send(stack, service, SF_RECIPIENT, "first")
    assert add_short_code(stack, service.sid, US_SHORT_CODE, "US").status_code == 201
    assert send(stack, service, SF_RECIPIENT, "second").sender == SF_SENDER
    assert mapping(stack, service, SF_RECIPIENT)["sender"] == SF_SENDER


def test_a_new_recipient_gets_the_short_code_that_joined(stack):
    """Without a mapping, the short code of the recipient's country comes first, as Twilio prioritizes it."""
    service = make_service(stack, SF_SENDER, sticky_sender=True)
    send(stack, service, SF_RECIPIENT, "first")
    add_short_code(stack, service.sid, US_SHORT_CODE, "US").raise_for_status()
    assert send(stack, service, "+14155550148", "hello").sender == US_SHORT_CODE


def test_a_pinned_mapping_stays_when_a_number_of_the_recipients_country_joins(stack):
    """A mapping staff pinned to the US number keeps a British recipient there after a British number joins."""
    service = make_service(stack, SF_SENDER, sticky_sender=True)
    send(stack, service, GB_MOBILE, "first")
    httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/StickySenders/{GB_MOBILE}",
        data={"Sender": SF_SENDER},
        auth=(stack.account_sid, stack.auth_token),
    ).raise_for_status()
    add_number(stack, service, GB_SENDER)
    assert send(stack, service, GB_MOBILE, "second").sender == SF_SENDER
    assert (mapping(stack, service, GB_MOBILE)["sender"], mapping(stack, service, GB_MOBILE)["pinned"]) == (
        SF_SENDER,
        True,
    )


def test_without_a_number_of_their_country_or_a_us_number_a_recipient_gets_another_number(stack):
    """Twilio's fallback after a US number: any other phone number (here a British one for a Japanese recipient)."""
    service = make_service(stack, GB_SENDER)
    assert send(stack, service, JP_MOBILE, "konnichiwa").sender == GB_SENDER


def test_adding_a_short_code_the_service_already_has_is_refused_with_21422(stack):
    service = make_service(stack, SF_SENDER)
    assert add_short_code(stack, service.sid, US_SHORT_CODE, "US").status_code == 201
    again = add_short_code(stack, service.sid, US_SHORT_CODE, "US")
    assert (again.status_code, again.json()["code"]) == (400, 21422)


def test_adding_a_short_code_another_service_has_is_refused_with_21422(stack):
    first, second = make_service(stack, SF_SENDER), make_service(stack)
    assert add_short_code(stack, first.sid, US_SHORT_CODE, "US").status_code == 201
    again = add_short_code(stack, second.sid, US_SHORT_CODE, "US")
    assert (again.status_code, again.json()["code"]) == (400, 21422)
    listed = httpx.get(f"{stack.url}/v1/Services/{second.sid}/ShortCodes", auth=(stack.account_sid, stack.auth_token))
    assert listed.json()["short_codes"] == []


def test_adding_an_alpha_sender_another_service_has_is_refused_with_21422(stack):
    first, second = make_service(stack), make_service(stack)
    client = stack.client()
    client.messaging.v1.services(first.sid).alpha_senders.create(alpha_sender="ACME")
    with pytest.raises(TwilioRestException) as error:
        client.messaging.v1.services(second.sid).alpha_senders.create(alpha_sender="ACME")
    assert (error.value.status, error.value.code) == (400, 21422)


def test_adding_an_alpha_sender_the_service_already_has_is_refused(stack):
    """A service has one alpha sender; adding the same one again is refused with 21714, not stored twice."""
    service = make_service(stack)
    client = stack.client()
    client.messaging.v1.services(service.sid).alpha_senders.create(alpha_sender="ACME")
    with pytest.raises(TwilioRestException) as error:
        client.messaging.v1.services(service.sid).alpha_senders.create(alpha_sender="ACME")
    assert (error.value.status, error.value.code) == (400, 21714)
