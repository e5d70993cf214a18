"""Plivo's adapter with bytes: Signature V3, inbound and status forms, the Message API."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import httpx2
import pytest

from gateway.providers.base import (
    Credentials,
    MalformedWebhook,
    OutboundMessage,
    RawRequest,
    Rejected,
    Retryable,
    Status,
    Throttled,
    WebhookRejected,
    parse_form,
)
from gateway.providers.plivo import PROVIDER
from tests.conftest import FR_MOBILE
from tests.flows.provider_standins import plivo_signature

TOKEN = "MjA1NTk3ZTc4YzMzMTQ3NGJmOTc0"
URL = "https://sms.example.com/webhooks/plivo/inbound"
INBOUND = {
    "From": FR_MOBILE.lstrip("+"),
    "To": "12015550124",
    "Text": "STOP",
    "Type": "sms",
    "MessageUUID": "3c4e9f4a-6c1b-11ef-9a2b-0242ac110002",
    "Units": "1",
    "MessageIntent": "optout",
    "MediaCount": "0",
}


def signed(
    params: dict[str, str],
    url: str = URL,
    *,
    token: str = TOKEN,
    nonce: str = "05429567804466091622",
    signature: str | None = None,
) -> RawRequest:
    body = urlencode(params).encode()
    headers = {
        "x-plivo-signature-v3": signature or plivo_signature(url, params, nonce, token),
        "x-plivo-signature-v3-nonce": nonce,
    }
    return RawRequest(url, headers, body, parse_form(body))


def test_a_signature_over_url_sorted_fields_and_nonce_is_accepted():
    """HMAC-SHA256 of URL, "?", the sorted fields as name+value, ".", nonce, as plivo-python computes it."""
    assert PROVIDER.verify(signed(INBOUND), TOKEN) is None  # raises WebhookRejected when it does not hold


def test_the_query_string_of_the_callback_url_is_signed_too():
    """A status callback URL carrying ?ref= is signed with its sorted query before the fields."""
    url = "https://sms.example.com/webhooks/plivo/status?ref=SM" + "a" * 32
    assert PROVIDER.verify(signed({"MessageUUID": "u1", "Status": "sent"}, url), TOKEN) is None


def test_one_matching_signature_among_several_comma_separated_is_enough():
    """During token rotation Plivo sends one signature per active token."""
    good = plivo_signature(URL, INBOUND, "n1", TOKEN)
    assert PROVIDER.verify(signed(INBOUND, nonce="n1", signature=f"{'A' * 43}=,{good}"), TOKEN) is None


def test_a_signature_made_with_another_token_is_refused():
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(signed(INBOUND, token="another-token"), TOKEN)


def test_a_changed_field_is_refused():
    raw = signed(INBOUND)
    tampered = RawRequest(
        raw.public_url, raw.headers, raw.body.replace(b"STOP", b"STAR"), parse_form(raw.body.replace(b"STOP", b"STAR"))
    )
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(tampered, TOKEN)


def test_a_missing_nonce_or_an_empty_token_is_refused():
    raw = signed(INBOUND)
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(
            RawRequest(URL, {"x-plivo-signature-v3": raw.headers["x-plivo-signature-v3"]}, raw.body, raw.form), TOKEN
        )
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(raw, "")


def test_inbound_numbers_get_their_plus_and_plivos_intent_is_only_kept():
    """From/To become E.164; MessageIntent stays in raw under plivo.* and decides nothing."""
    [message] = PROVIDER.parse_inbound(signed(INBOUND))
    assert (message.sender, message.to, message.body) == (FR_MOBILE, "+12015550124", "STOP")
    assert message.provider_sid == INBOUND["MessageUUID"]
    raw = dict(message.raw)
    assert raw["From"] == FR_MOBILE and raw["Body"] == "STOP" and raw["plivo.MessageIntent"] == "optout"


def test_inbound_media_are_read_from_media_count():
    params = INBOUND | {
        "Type": "mms",
        "MediaCount": "2",
        "Media0": "https://media.plivo.com/a.jpg",
        "Media1": "https://media.plivo.com/b.jpg",
    }
    [message] = PROVIDER.parse_inbound(signed(params))
    assert message.media_urls == ("https://media.plivo.com/a.jpg", "https://media.plivo.com/b.jpg")


def test_inbound_media_numbered_from_one_as_plivos_reference_writes_them_are_all_read():
    """Plivo's reference numbers the items `Media1`…`Media{MediaCount}`; the app still gets them from 0."""
    params = INBOUND | {
        "Type": "mms",
        "MediaCount": "2",
        "Media1": "https://m.example/a",
        "Media2": "https://m.example/b",
    }
    [message] = PROVIDER.parse_inbound(signed(params))
    assert message.media_urls == ("https://m.example/a", "https://m.example/b")
    raw = dict(message.raw)
    assert (raw["MediaUrl0"], raw["MediaUrl1"], raw["MediaContentType0"]) == (*message.media_urls, "")


def test_inbound_without_message_uuid_is_malformed():
    with pytest.raises(MalformedWebhook):
        PROVIDER.parse_inbound(signed({k: v for k, v in INBOUND.items() if k != "MessageUUID"}))


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("queued", Status.QUEUED),
        ("sent", Status.SENT),
        ("delivered", Status.DELIVERED),
        ("undelivered", Status.UNDELIVERED),
        ("failed", Status.FAILED),
    ],
)
def test_each_plivo_status_maps_to_ours(word, status):
    [event] = PROVIDER.parse_status(signed({"MessageUUID": "u1", "Status": word, "Sequence": "2"}))
    assert (event.provider_sid, event.status, event.error_code) == ("u1", status, None)
    assert event.raw["Sequence"] == "2"


def test_an_error_code_maps_to_twilios():
    """ErrorCode 50 (invalid destination number) becomes 21211; 200 (STOP from the destination) 21610."""
    [invalid] = PROVIDER.parse_status(signed({"MessageUUID": "u1", "Status": "failed", "ErrorCode": "50"}))
    [stopped] = PROVIDER.parse_status(signed({"MessageUUID": "u2", "Status": "failed", "ErrorCode": "200"}))
    assert (invalid.error_code, stopped.error_code) == (21211, 21610)


def test_an_unknown_status_becomes_unknown_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING):
        [event] = PROVIDER.parse_status(signed({"MessageUUID": "u1", "Status": "teleported"}))
    assert event.status is Status.UNKNOWN and "teleported" in caplog.text


def test_build_send_posts_json_to_the_account_with_basic_auth():
    request = PROVIDER.build_send(
        OutboundMessage(
            sid="SM" + "1" * 32,
            sender="+12015550124",
            to=FR_MOBILE,
            body="Bonjour",
            status_callback="https://gw/webhooks/plivo/status",
        ),
        Credentials("MAXXXX", "token", "https://api.plivo.com"),
    )
    assert request.method == "POST" and str(request.url) == "https://api.plivo.com/v1/Account/MAXXXX/Message/"
    assert request.headers["authorization"] == "Basic TUFYWFhYOnRva2Vu"
    assert json.loads(request.content) == {
        "src": "+12015550124",
        "dst": FR_MOBILE,
        "text": "Bonjour",
        "url": "https://gw/webhooks/plivo/status",
        "method": "POST",
    }


def test_read_send_takes_the_first_message_uuid():
    response = httpx2.Response(202, json={"api_id": "x", "message": "message(s) queued", "message_uuid": ["u1"]})
    result = PROVIDER.read_send(response)
    assert (result.provider_sid, result.status) == ("u1", Status.QUEUED)


def test_read_send_429_is_throttled_with_retry_after_and_5xx_retryable():
    with pytest.raises(Throttled) as throttled:
        PROVIDER.read_send(httpx2.Response(429, headers={"retry-after": "5"}, json={"error": "too many requests"}))
    assert throttled.value.retry_after == 5
    with pytest.raises(Retryable):
        PROVIDER.read_send(httpx2.Response(503, json={"error": "unavailable"}))


def test_read_send_invalid_destination_is_rejected_with_21211():
    with pytest.raises(Rejected) as rejected:
        PROVIDER.read_send(httpx2.Response(400, json={"api_id": "x", "error": "dst parameter is not a valid number"}))
    assert rejected.value.code == 21211


@pytest.mark.parametrize("url", [URL, "https://sms.example.com/webhooks/plivo/status?ref=SMabc&b=2"])
def test_signatures_the_official_sdk_accepts_are_the_ones_we_accept(url):
    """plivo-python's validate_v3_signature and our verify agree, on a URL with and without a query."""
    from plivo.utils.signature_v3 import validate_v3_signature

    params = INBOUND | {"Text": "Arrêt & co = 2"}
    raw = signed(params, url)
    header = raw.headers["x-plivo-signature-v3"]
    assert validate_v3_signature("POST", url, raw.headers["x-plivo-signature-v3-nonce"], TOKEN, header, params)
    PROVIDER.verify(raw, TOKEN)
    assert not validate_v3_signature("POST", url, "another-nonce", TOKEN, header, params)
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(
            RawRequest(url, raw.headers | {"x-plivo-signature-v3-nonce": "another-nonce"}, raw.body, raw.form), TOKEN
        )
