"""Bad input on the provider webhooks, for each provider as it signs: a signed webhook carrying what
no person's message carries is a 400 that stores nothing, and a replayed webhook is processed once
(one inbound message, one forward, one confirmation)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel
from twilio.request_validator import RequestValidator

from tests.conftest import FR_MOBILE
from tests.flows.conftest import PROVIDER_TOKEN
from tests.flows.provider_standins import (
    TelnyxKeys,
    plivo_post,
    service_with,
    settings_for,
    standin,
    vonage_signed,
)
from tests.flows.test_inbound import before_a_help

NUMBERS = {"twilio": "+12015550124", "telnyx": "+12125550100", "vonage": "+12025550142", "plivo": "+13125550100"}
KEYS = TelnyxKeys()


@pytest.fixture
def standins():  # type: ignore[no-untyped-def]
    with standin("telnyx") as telnyx, standin("vonage") as vonage, standin("plivo") as plivo:
        yield {"telnyx": telnyx, "vonage": vonage, "plivo": plivo}


@pytest.fixture
def gateway_overrides(standins):  # type: ignore[no-untyped-def]
    return (
        settings_for("telnyx", standins["telnyx"].base, KEYS)
        | settings_for("vonage", standins["vonage"].base)
        | settings_for("plivo", standins["plivo"].base)
    )


@pytest.fixture
def service(stack):  # type: ignore[no-untyped-def]
    return service_with(stack, *((number, provider) for provider, number in NUMBERS.items()))


def post(
    stack,
    provider: str,
    body: str,
    *,
    sender: str = FR_MOBILE,
    message_id: str | None = None,
    raw_text: bytes | None = None,
) -> httpx.Response:  # type: ignore[no-untyped-def]
    """An inbound message to our number of `provider`, in its format and signed its way."""
    url = f"{stack.settings.public_url}/webhooks/{provider}/inbound"
    to, sid = NUMBERS[provider], message_id or uuid.uuid4().hex
    if provider == "twilio":
        params = {
            "MessageSid": "SM" + sid,
            "AccountSid": stack.settings.twilio_account_sid,
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
        }
        signature = RequestValidator(PROVIDER_TOKEN).compute_signature(url, params)
        return httpx.post(url, data=params, headers={"X-Twilio-Signature": signature})
    if provider == "telnyx":
        payload = {
            "id": sid,
            "record_type": "message",
            "direction": "inbound",
            "type": "SMS",
            "from": {"phone_number": sender},
            "to": [{"phone_number": to}],
            "text": body,
            "media": [],
        }
        if raw_text is None:
            return KEYS.post(url, "message.received", payload)
        envelope = json.dumps(
            {
                "data": {
                    "event_type": "message.received",
                    "id": str(uuid.uuid4()),
                    "record_type": "event",
                    "payload": payload,
                }
            }
        ).encode()
        envelope = envelope.replace(json.dumps(body).encode(), b'"' + raw_text + b'"')  # bytes JSON cannot escape
        stamp = str(int(time.time()))
        signature = KEYS.private.sign(stamp.encode() + b"|" + envelope)
        return httpx.post(
            url,
            content=envelope,
            headers={
                "content-type": "application/json",
                "telnyx-timestamp": stamp,
                "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            },
        )
    if provider == "vonage":
        params = {
            "msisdn": sender.lstrip("+"),
            "to": to.lstrip("+"),
            "messageId": sid[:16].upper(),
            "text": body,
            "type": "unicode",
            "message-timestamp": "2026-12-01 17:26:40",
        }
        return httpx.get(url, params=vonage_signed(params))
    params = {"From": sender.lstrip("+"), "To": to.lstrip("+"), "Text": body, "Type": "sms", "MessageUUID": sid}
    return plivo_post(url, params)


def rows(stack) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Rows in every table, to show that a refused webhook changed nothing."""
    with Session(stack.engine()) as session:
        return {
            table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in SQLModel.metadata.sorted_tables
            if table.name != "policy_revision"
        }


def assert_refused_and_nothing_stored(stack, send: Callable[[], httpx.Response], status: int) -> None:  # type: ignore[no-untyped-def]
    before = rows(stack)
    response = send()
    assert response.status_code == status, response.text
    assert set(response.json()) >= {"code", "message", "more_info", "status"}
    assert rows(stack) == before


PROVIDERS = list(NUMBERS)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("control", ["\x00", "\x1b"])
def test_a_control_character_in_a_signed_message_is_400_and_stores_nothing(stack, service, provider, control):
    """STOP with a NUL (PostgreSQL cannot store it) or an ESC in it, signed, is refused before anything is written."""
    assert_refused_and_nothing_stored(stack, lambda: post(stack, provider, f"STOP{control}"), 400)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_10000_character_from_is_400_and_stores_nothing(stack, service, provider):
    """No number is 10,000 digits long: refused before anything is written."""
    assert_refused_and_nothing_stored(stack, lambda: post(stack, provider, "STOP", sender="+" + "3" * 10_000), 400)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_10000_character_body_is_400_and_stores_nothing(stack, service, provider):
    """No text message is 10,000 characters long (Twilio's inbound limit is 1,600)."""
    assert_refused_and_nothing_stored(stack, lambda: post(stack, provider, "STOP " + "x" * 10_000), 400)


def test_a_signed_message_that_is_not_utf8_is_400_and_stores_nothing(stack, service):
    """Telnyx signs the bytes it sends: bytes that are not UTF-8 are refused, not stored as U+FFFD."""
    assert_refused_and_nothing_stored(stack, lambda: post(stack, "telnyx", "ARRET", raw_text=b"ARR\xcat"), 400)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_replayed_webhook_is_one_message_one_forward_and_one_confirmation(stack, service, standins, provider):
    """The same signed STOP posted twice is answered twice and processed once."""
    message_id = uuid.uuid4().hex
    first = post(stack, provider, "STOP", message_id=message_id)
    assert first.status_code == 200, first.text
    assert post(stack, provider, "STOP", message_id=message_id).status_code == 200
    replies = (
        standins[provider].to
        if provider != "twilio"
        else (lambda person: [r for r in stack.provider.received if r.to == person])
    )
    sent, answered = before_a_help(
        stack,
        FR_MOBILE,
        word="AIDE",
        answer="assistance",
        send=lambda: post(stack, provider, "AIDE"),
        replies=lambda: replies(FR_MOBILE),
    )
    assert [r.field("Body") for r in sent] == ["STOP"]
    assert len(answered) == 1
    assert rows(stack)["inbound_receipt"] == 2  # the STOP once, and the AIDE


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_webhook_body_over_the_limit_is_413_and_stores_nothing(stack, service, provider):
    """Over GATEWAY_WEBHOOK_MAX_BYTES, signed or not, nothing is read further or stored."""
    url = f"{stack.settings.public_url}/webhooks/{provider}/inbound"
    oversized = b"Body=" + b"x" * stack.settings.webhook_max_bytes
    assert_refused_and_nothing_stored(
        stack,
        lambda: httpx.post(url, content=oversized, headers={"content-type": "application/x-www-form-urlencoded"}),
        413,
    )


def test_signed_json_that_does_not_parse_is_400_and_stores_nothing(stack, service):
    """Telnyx's envelope cut short, but signed: refused as malformed, not a 500."""

    def send() -> httpx.Response:
        envelope = b'{"data": {"event_type": "message.received", "payload": {"text": "STOP"'
        stamp = str(int(time.time()))
        signature = base64.b64encode(KEYS.private.sign(stamp.encode() + b"|" + envelope)).decode()
        return httpx.post(
            f"{stack.settings.public_url}/webhooks/telnyx/inbound",
            content=envelope,
            headers={
                "content-type": "application/json",
                "telnyx-timestamp": stamp,
                "telnyx-signature-ed25519": signature,
            },
        )

    assert_refused_and_nothing_stored(stack, send, 400)
