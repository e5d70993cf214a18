"""Vonage (SMS API) end to end: a stand-in Vonage on 127.0.0.1 takes /sms/json; its webhooks come
as GET query strings signed with `sig`, long messages one part per webhook."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from gateway.encoding import segment
from tests.conftest import FR_MOBILE, GB_MOBILE
from tests.flows.provider_standins import (
    french_opt_out_reply,
    service_with,
    settings_for,
    standin,
    stored_inbound,
    vonage_signed,
)
from tests.flows.test_inbound import before_a_help, forwards
from tests.poll import wait_until

OUR_NUMBER = "+12015550124"


@pytest.fixture
def vonage():  # type: ignore[no-untyped-def]
    with standin("vonage") as state:
        yield state


@pytest.fixture
def gateway_overrides(vonage):  # type: ignore[no-untyped-def]
    return settings_for("vonage", vonage.base)


@pytest.fixture
def service(stack):  # type: ignore[no-untyped-def]
    return service_with(stack, (OUR_NUMBER, "vonage"))


def fields(text: str, **extra: str) -> dict[str, str]:
    return {
        "msisdn": FR_MOBILE.lstrip("+"),
        "to": OUR_NUMBER.lstrip("+"),
        "messageId": uuid.uuid4().hex[:16].upper(),
        "text": text,
        "type": "unicode",
        "keyword": text.split()[0].upper() if text.split() else "",
        "message-timestamp": "2026-12-01 17:26:40",
    } | extra


def inbound(stack, params: dict[str, str], **signing) -> httpx.Response:  # type: ignore[no-untyped-def]
    """Vonage's default for inbound webhooks: GET, the fields in the query string."""
    return httpx.get(f"{stack.settings.public_url}/webhooks/vonage/inbound", params=vonage_signed(params, **signing))


def before_an_aide(stack, vonage):  # type: ignore[no-untyped-def]
    """`before_a_help` through Vonage, in French: AIDE, answered "assistance"."""
    return before_a_help(
        stack,
        FR_MOBILE,
        word="AIDE",
        answer="assistance",
        send=lambda: inbound(stack, fields("AIDE")),
        replies=lambda: vonage.to(FR_MOBILE),
    )


def test_signed_french_stop_opts_out_is_confirmed_through_vonage_and_forwarded_with_opt_out_type(
    stack, vonage, service, shipped
):
    """ARRÊT from +33 (a GET webhook) opts out; the French confirmation goes out through /sms/json
    from the number written to, and the app gets OptOutType STOP, as for a Twilio inbound."""
    assert inbound(stack, fields("ARRÊT")).status_code == 200
    [reply] = wait_until(lambda: vonage.to(FR_MOBILE))
    assert (reply.sender, reply.body) == (OUR_NUMBER.lstrip("+"), french_opt_out_reply(shipped, FR_MOBILE, OUR_NUMBER))
    [forward] = wait_until(lambda: forwards(stack, FR_MOBILE))
    assert forward.field("OptOutType") == "STOP" and forward.field("Body") == "ARRÊT"


def test_a_post_webhook_is_accepted_too(stack, vonage, service):
    response = httpx.post(f"{stack.settings.public_url}/webhooks/vonage/inbound", data=vonage_signed(fields("STOP")))
    assert response.status_code == 200
    wait_until(lambda: forwards(stack, FR_MOBILE))


def test_a_webhook_signed_with_another_secret_is_refused_and_nothing_is_stored(stack, vonage, service):
    assert inbound(stack, fields("STOP"), secret="not-the-signature-secret").status_code == 403
    assert stored_inbound(stack) == 0 and not forwards(stack, FR_MOBILE)


def test_a_webhook_with_a_stale_signed_timestamp_is_refused_as_a_replay(stack, vonage, service):
    assert inbound(stack, fields("STOP"), at=time.time() - 360).status_code == 403
    assert stored_inbound(stack) == 0


@pytest.mark.gateway(vonage_signature_method="sha256")
def test_the_hmac_sha256_signature_method_is_used_when_set(stack, vonage, service):
    """With GATEWAY_VONAGE_SIGNATURE_METHOD=sha256, an HMAC-SHA256 sig passes and an MD5 one does not."""
    assert inbound(stack, fields("STOP")).status_code == 403
    assert inbound(stack, fields("STOP"), method="sha256").status_code == 200


def test_three_parts_out_of_order_become_one_message_and_one_decision(stack, vonage, service):
    """ "UNSUB" / "SCRI" / "BE" arrive 3, 1, 2: the keyword is matched on the joined text (no part holds
    it), one forward, one confirmation, one receipt."""
    texts = {1: "UNSUB", 2: "SCRI", 3: "BE"}
    for number in (3, 1, 2):
        params = fields(
            texts[number], concat="true", **{"concat-ref": "108", "concat-total": "3", "concat-part": str(number)}
        )
        assert inbound(stack, params).status_code == 200
    [forward] = wait_until(lambda: forwards(stack, FR_MOBILE))
    assert forward.field("Body") == "UNSUBSCRIBE" and forward.field("OptOutType") == "STOP"
    assert stored_inbound(stack) == 1
    sent, replies = before_an_aide(stack, vonage)
    assert (len(sent), len(replies)) == (1, 1)


def test_the_first_parts_wait_for_the_last_before_anything_is_decided(stack, vonage, service):
    """Two of three parts in: nothing is stored yet, and the third makes one message decided on the
    joined text (no keyword), so "STOP " alone was never forwarded nor confirmed."""

    def part(number: int) -> dict[str, str]:
        return fields(
            {1: "STOP ", 2: "now", 3: " please"}[number],
            concat="true",
            **{"concat-ref": "7", "concat-total": "3", "concat-part": str(number)},
        )

    inbound(stack, part(1))
    inbound(stack, part(2))
    assert stored_inbound(stack) == 0
    inbound(stack, part(3))
    sent, replies = before_an_aide(stack, vonage)
    assert ([f.field("Body") for f in sent], replies) == (["STOP now please"], [])


@pytest.mark.gateway(vonage_concat_wait=0.5)
def test_a_message_whose_last_part_never_comes_is_decided_on_its_parts_after_the_wait(stack, vonage, service):
    """GATEWAY_VONAGE_CONCAT_WAIT bounds the wait: the parts that came are joined and decided."""
    inbound(stack, fields("STOP", concat="true", **{"concat-ref": "9", "concat-total": "2", "concat-part": "1"}))
    [forward] = wait_until(lambda: forwards(stack, FR_MOBILE))
    assert forward.field("Body") == "STOP" and forward.field("OptOutType") == "STOP"


def test_a_vonage_delivery_receipt_moves_the_message_and_the_app_callback_follows(stack, vonage, service):
    message = stack.client().messages.create(
        messaging_service_sid=service.sid,
        to=FR_MOBILE,
        body="Rendez-vous mardi",
        status_callback=stack.app.url("/status"),
    )
    [sent] = wait_until(lambda: vonage.to(FR_MOBILE))
    assert sent.callback and "?" not in sent.callback and sent.fields["client-ref"] == message.sid
    receipt = {
        "msisdn": FR_MOBILE.lstrip("+"),
        "to": OUR_NUMBER.lstrip("+"),
        "network-code": "20801",
        "messageId": sent.provider_sid,
        "price": "0.05",
        "status": "delivered",
        "scts": "2612011727",
        "err-code": "0",
        "api-key": "a1b2c3d4",
        "client-ref": message.sid,
        "message-timestamp": "2026-12-01 17:27:00",
    }
    assert httpx.get(sent.callback, params=vonage_signed(receipt)).status_code == 200
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status == "delivered")
    stack.app.wait_for(
        lambda r: (
            r.path == "/status" and r.field("MessageSid") == message.sid and r.field("MessageStatus") == "delivered"
        )
    )


def test_vonages_unroutable_destination_fails_the_message_with_21211(stack, vonage, service):
    """/sms/json's status 6 (unrecognised number prefix) fails the message with Twilio's invalid-To code."""
    vonage.refused.add(GB_MOBILE)
    message = stack.client().messages.create(messaging_service_sid=service.sid, to=GB_MOBILE, body="hello")
    failed = wait_until(lambda: (m := stack.client().messages(message.sid).fetch()).status == "failed" and m)
    assert failed.error_code == 21211


def test_media_through_a_vonage_sender_go_as_the_converters_sms(stack, vonage, service):
    """/sms/json carries no media: the MMS Converter sends the body with a link per item, so no item
    is lost, and the segments counted are those of that body."""
    pictures = ["https://media.example/visit/0.jpg", "https://media.example/visit/1.jpg"]
    message = stack.client().messages.create(
        messaging_service_sid=service.sid, to=FR_MOBILE, body="Vos radios", media_url=pictures
    )
    [sent] = wait_until(lambda: vonage.to(FR_MOBILE))
    assert sent.body == "Vos radios\n" + "\n".join(pictures)
    assert (message.num_media, message.num_segments) == ("0", str(segment(sent.body).segments))


def test_a_vonage_number_registered_with_mms_shows_no_mms_capability(stack, vonage):
    response = httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": OUR_NUMBER, "Provider": "vonage", "Mms": "true"},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.json()["capabilities"]["mms"] is False


def test_a_retried_last_part_changes_nothing_and_a_reused_reference_is_a_new_message(stack, vonage, service):
    """The same part again (same messageId) is one message; later parts reusing the reference with new
    ids are another message, decided on their own."""

    def part(text: str, number: int, sid: str) -> dict[str, str]:
        return fields(
            text, concat="true", messageId=sid, **{"concat-ref": "42", "concat-total": "2", "concat-part": str(number)}
        )

    inbound(stack, part("ST", 1, "A1"))
    inbound(stack, part("OP", 2, "A2"))
    inbound(stack, part("OP", 2, "A2"))
    wait_until(lambda: forwards(stack, FR_MOBILE))
    inbound(stack, part("STA", 1, "B1"))
    inbound(stack, part("RT", 2, "B2"))
    wait_until(lambda: len(forwards(stack, FR_MOBILE)) == 2)
    assert [f.field("Body") for f in forwards(stack, FR_MOBILE)] == ["STOP", "START"]
    assert [f.field("OptOutType") for f in forwards(stack, FR_MOBILE)] == ["STOP", "START"]


def test_a_vonage_receipt_with_err_code_3_stores_30005_and_the_callback_carries_it(stack, vonage, service):
    """A `failed` receipt with err-code 3 (absent subscriber, permanent) leaves the message
    undelivered with 30005, and the app's status callback says so."""
    message = stack.client().messages.create(
        messaging_service_sid=service.sid,
        to=FR_MOBILE,
        body="Rendez-vous mardi",
        status_callback=stack.app.url("/status"),
    )
    [sent] = wait_until(lambda: vonage.to(FR_MOBILE))
    receipt = {
        "msisdn": FR_MOBILE.lstrip("+"),
        "to": OUR_NUMBER.lstrip("+"),
        "network-code": "20801",
        "messageId": sent.provider_sid,
        "price": "0.05",
        "status": "failed",
        "scts": "2612011727",
        "err-code": "3",
        "api-key": "a1b2c3d4",
        "client-ref": message.sid,
        "message-timestamp": "2026-12-01 17:27:00",
    }
    assert httpx.get(sent.callback, params=vonage_signed(receipt)).status_code == 200
    failed = wait_until(lambda: (m := stack.client().messages(message.sid).fetch()).status == "undelivered" and m)
    assert failed.error_code == 30005
    [callback] = stack.app.wait_for(
        lambda r: (
            r.path == "/status" and r.field("MessageSid") == message.sid and r.field("MessageStatus") == "undelivered"
        )
    )
    assert callback.field("ErrorCode") == "30005"
