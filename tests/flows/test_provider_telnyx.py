"""Telnyx end to end: a stand-in Telnyx on 127.0.0.1 takes the gateway's sends; its webhooks are
JSON signed with an Ed25519 key generated here, as Telnyx signs them."""

from __future__ import annotations

import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import FR_MOBILE, GB_MOBILE
from tests.flows.provider_standins import (
    TelnyxKeys,
    french_opt_out_reply,
    service_with,
    settings_for,
    standin,
    stored_inbound,
)
from tests.flows.test_inbound import forwards
from tests.poll import wait_until

OUR_NUMBER = "+12015550124"


@pytest.fixture
def keys() -> TelnyxKeys:
    return TelnyxKeys()


@pytest.fixture
def telnyx():  # type: ignore[no-untyped-def]
    with standin("telnyx") as state:
        yield state


@pytest.fixture
def gateway_overrides(telnyx, keys):  # type: ignore[no-untyped-def]
    return settings_for("telnyx", telnyx.base, keys)


@pytest.fixture
def service(stack):  # type: ignore[no-untyped-def]
    return service_with(stack, (OUR_NUMBER, "telnyx"))


def inbound(stack, keys: TelnyxKeys, text: str, media=(), **signing):  # type: ignore[no-untyped-def]
    payload = {
        "id": str(uuid.uuid4()),
        "record_type": "message",
        "direction": "inbound",
        "type": "MMS" if media else "SMS",
        "from": {"phone_number": FR_MOBILE, "carrier": "Orange", "line_type": "Wireless"},
        "to": [{"phone_number": OUR_NUMBER, "status": "webhook_delivered"}],
        "text": text,
        "media": list(media),
        "encoding": "UCS-2",
        "parts": 1,
        "autoresponse_type": "stop",
    }
    return keys.post(f"{stack.settings.public_url}/webhooks/telnyx/inbound", "message.received", payload, **signing)


def test_signed_french_stop_opts_out_is_confirmed_through_telnyx_and_forwarded_with_opt_out_type(
    stack, telnyx, keys, service, shipped
):
    """ARRÊT from +33 opts out; the French confirmation goes out through Telnyx from the number written
    to, and the app gets the message with OptOutType STOP, as for a Twilio inbound."""
    assert inbound(stack, keys, "ARRÊT").status_code == 200
    [reply] = wait_until(lambda: telnyx.to(FR_MOBILE))
    assert (reply.sender, reply.body) == (OUR_NUMBER, french_opt_out_reply(shipped, FR_MOBILE, OUR_NUMBER))
    [forward] = wait_until(lambda: forwards(stack, FR_MOBILE))
    assert forward.field("OptOutType") == "STOP" and forward.field("Body") == "ARRÊT"
    assert forward.field("telnyx.autoresponse_type") == "stop"


def test_inbound_mms_reaches_the_app_with_twilios_media_fields_and_keeps_each_items_type(stack, telnyx, keys, service):
    """Telnyx's `media[]` (`url`, `content_type`) becomes NumMedia, MediaUrl{N} and MediaContentType{N}
    as Twilio writes them, and the message's Media subresource shows each item's type."""
    media = [
        {
            "url": "https://media.telnyx.com/mms/6f0c5d1e/card-front.jpg",
            "content_type": "image/jpeg",
            "hash_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "size": 183_406,
        },
        {
            "url": "https://media.telnyx.com/mms/6f0c5d1e/card-back.png",
            "content_type": "image/png",
            "hash_sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
            "size": 240_112,
        },
    ]
    assert inbound(stack, keys, "my insurance card", media).status_code == 200
    [forward] = wait_until(lambda: forwards(stack, FR_MOBILE))
    expected = {
        "NumMedia": "2",
        "MediaUrl0": media[0]["url"],
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": media[1]["url"],
        "MediaContentType1": "image/png",
    }
    assert {name: forward.field(name) for name in expected} == expected
    [message] = stack.client().messages.list(to=OUR_NUMBER)
    items = stack.client().messages(message.sid).media.list()
    assert [item.content_type for item in items] == ["image/jpeg", "image/png"]


def test_a_webhook_signed_with_another_key_is_refused_and_nothing_is_stored(stack, telnyx, keys, service):
    assert inbound(stack, keys, "STOP", key=Ed25519PrivateKey.generate()).status_code == 403
    assert stored_inbound(stack) == 0 and not forwards(stack, FR_MOBILE)


def test_a_webhook_signed_more_than_300_seconds_ago_is_refused_as_a_replay(stack, telnyx, keys, service):
    """A correctly signed body with a timestamp six minutes old is a replay: 403, nothing stored."""
    assert inbound(stack, keys, "STOP", at=time.time() - 360).status_code == 403
    assert stored_inbound(stack) == 0


def test_a_telnyx_finalized_report_moves_the_message_and_the_app_callback_follows(stack, telnyx, keys, service):
    message = stack.client().messages.create(
        messaging_service_sid=service.sid,
        to=FR_MOBILE,
        body="Rendez-vous mardi",
        status_callback=stack.app.url("/status"),
    )
    [sent] = wait_until(lambda: telnyx.to(FR_MOBILE))
    assert sent.sender == OUR_NUMBER and sent.callback and sent.fields["from"] == OUR_NUMBER
    payload = {
        "id": sent.provider_sid,
        "record_type": "message",
        "direction": "outbound",
        "type": "SMS",
        "from": {"phone_number": OUR_NUMBER},
        "to": [{"phone_number": FR_MOBILE, "status": "delivered"}],
        "text": "Rendez-vous mardi",
        "errors": [],
    }
    assert keys.post(sent.callback, "message.finalized", payload).status_code == 200
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status == "delivered")
    stack.app.wait_for(
        lambda r: (
            r.path == "/status" and r.field("MessageSid") == message.sid and r.field("MessageStatus") == "delivered"
        )
    )


def test_telnyxs_invalid_to_address_fails_the_message_with_21211(stack, telnyx, service):
    """Telnyx's 40310 (invalid 'to' address) fails the message with Twilio's invalid-To code."""
    telnyx.refused.add(GB_MOBILE)
    message = stack.client().messages.create(messaging_service_sid=service.sid, to=GB_MOBILE, body="hello")
    failed = wait_until(lambda: (m := stack.client().messages(message.sid).fetch()).status == "failed" and m)
    assert failed.error_code == 21211


def test_a_finalized_report_with_telnyxs_invalid_destination_40012_stores_21211(stack, telnyx, keys, service):
    """A `message.finalized` whose errors[0].code is 40012 (invalid destination number) leaves the
    message undelivered with 21211, as the README promises whichever provider said it."""
    message = stack.client().messages.create(messaging_service_sid=service.sid, to=FR_MOBILE, body="Rendez-vous mardi")
    [sent] = wait_until(lambda: telnyx.to(FR_MOBILE))
    payload = {
        "id": sent.provider_sid,
        "record_type": "message",
        "direction": "outbound",
        "type": "SMS",
        "from": {"phone_number": OUR_NUMBER},
        "to": [{"phone_number": FR_MOBILE, "status": "delivery_failed"}],
        "text": "Rendez-vous mardi",
        "errors": [{"code": "40012", "title": "Invalid messaging destination number"}],
    }
    assert keys.post(sent.callback, "message.finalized", payload).status_code == 200
    failed = wait_until(lambda: (m := stack.client().messages(message.sid).fetch()).status == "undelivered" and m)
    assert failed.error_code == 21211
