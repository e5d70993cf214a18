"""Telnyx's adapter with bytes: Ed25519 over "timestamp|body" with a 300 s window, the JSON
envelope, per-recipient statuses, POST /v2/messages."""

from __future__ import annotations

import base64
import json
import logging

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
from gateway.providers.telnyx import TelnyxProvider
from tests.conftest import FR_MOBILE
from tests.flows.provider_standins import TelnyxKeys

NOW = 1_764_610_000
PROVIDER = TelnyxProvider(clock=lambda: NOW)
URL = "https://sms.example.com/webhooks/telnyx/inbound"


def envelope(event: str, payload: dict[str, object]) -> bytes:
    return json.dumps(
        {"data": {"event_type": event, "id": "b301", "record_type": "event", "payload": payload}}
    ).encode()


def signed(body: bytes, keys: TelnyxKeys, *, at: int = NOW, key: Ed25519PrivateKey | None = None) -> RawRequest:
    signature = base64.b64encode((key or keys.private).sign(f"{at}|".encode() + body)).decode()
    headers = {"telnyx-signature-ed25519": signature, "telnyx-timestamp": str(at)}
    return RawRequest(URL, headers, body, parse_form(body))


def received(text: str = "STOP", **extra: object) -> bytes:
    return envelope(
        "message.received",
        {
            "id": "84cc",
            "direction": "inbound",
            "type": "SMS",
            "from": {"phone_number": FR_MOBILE},
            "text": text,
            "media": [],
            "to": [{"phone_number": "+12015550124", "status": "webhook_delivered"}],
            **extra,
        },
    )


def status_body(word: str, errors: list[dict[str, str]] | None = None) -> bytes:
    return envelope(
        "message.finalized",
        {"id": "40385f64", "to": [{"phone_number": FR_MOBILE, "status": word}], "errors": errors or []},
    )


def test_a_body_signed_with_the_accounts_key_within_300_seconds_is_accepted():
    keys = TelnyxKeys()
    assert PROVIDER.verify(signed(received(), keys, at=NOW - 299), keys.public_base64) is None  # raises if refused


def test_a_signature_by_another_key_is_refused():
    keys = TelnyxKeys()
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(signed(received(), keys, key=Ed25519PrivateKey.generate()), keys.public_base64)


def test_a_changed_body_is_refused():
    keys = TelnyxKeys()
    raw = signed(received(), keys)
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(RawRequest(URL, raw.headers, received("START"), ()), keys.public_base64)


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_more_than_300_seconds_away_is_refused_as_a_replay(offset):
    """Signed correctly, but too old (or from too far ahead): refused, as the SDKs do."""
    keys = TelnyxKeys()
    with pytest.raises(WebhookRejected, match="replay"):
        PROVIDER.verify(signed(received(), keys, at=NOW + offset), keys.public_base64)


def test_missing_headers_an_empty_key_or_a_key_that_is_not_one_are_refused():
    keys = TelnyxKeys()
    raw = signed(received(), keys)
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(RawRequest(URL, {}, raw.body, ()), keys.public_base64)
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(raw, "")
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(raw, "bm90IGEga2V5")


def test_inbound_reads_the_envelope_and_keeps_telnyxs_own_intent_only_as_a_field():
    keys = TelnyxKeys()
    [message] = PROVIDER.parse_inbound(signed(received("Arrêt", autoresponse_type="stop"), keys))
    assert (message.provider_sid, message.sender, message.to, message.body) == (
        "84cc",
        FR_MOBILE,
        "+12015550124",
        "Arrêt",
    )
    raw = dict(message.raw)
    assert raw["Body"] == "Arrêt" and raw["telnyx.autoresponse_type"] == "stop" and "telnyx.body" in raw


def test_inbound_media_items_give_their_url_and_content_type_and_an_item_without_url_is_skipped():
    media = [
        {"url": "https://media.telnyx.com/a.jpg", "content_type": "image/jpeg", "size": 1200},
        {"content_type": "image/png"},
        {"url": "https://media.telnyx.com/b.vcf"},
    ]
    [message] = PROVIDER.parse_inbound(signed(received("", type="MMS", media=media), TelnyxKeys()))
    assert message.media_urls == ("https://media.telnyx.com/a.jpg", "https://media.telnyx.com/b.vcf")
    assert message.media_types == ("image/jpeg", None)
    raw = dict(message.raw)
    assert (raw["NumMedia"], raw["MediaContentType0"], raw["MediaContentType1"]) == ("2", "image/jpeg", "")


def test_another_event_on_the_inbound_url_is_no_message():
    """A messaging profile's stray message.finalized on the inbound URL is answered, not retried forever."""
    assert PROVIDER.parse_inbound(signed(status_body("delivered"), TelnyxKeys())) == []


def test_a_body_without_an_envelope_is_malformed():
    with pytest.raises(MalformedWebhook):
        PROVIDER.parse_inbound(signed(b'{"event_type": "message.received"}', TelnyxKeys()))


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("queued", Status.QUEUED),
        ("sending", Status.SENDING),
        ("sent", Status.SENT),
        ("delivered", Status.DELIVERED),
        ("delivery_unconfirmed", Status.SENT),
        ("sending_failed", Status.FAILED),
        ("delivery_failed", Status.UNDELIVERED),
    ],
)
def test_each_telnyx_status_maps_to_ours(word, status):
    [event] = PROVIDER.parse_status(signed(status_body(word), TelnyxKeys()))
    assert (event.provider_sid, event.status, event.error_code) == ("40385f64", status, None)


def test_a_delivery_error_code_maps_to_twilios():
    """40001 (not routable: a landline) becomes 30006; 40300 (blocked by STOP) 21610."""
    [landline] = PROVIDER.parse_status(signed(status_body("delivery_failed", [{"code": "40001"}]), TelnyxKeys()))
    [stopped] = PROVIDER.parse_status(signed(status_body("sending_failed", [{"code": "40300"}]), TelnyxKeys()))
    assert (landline.error_code, stopped.error_code) == (30006, 21610)


def test_an_unknown_status_becomes_unknown_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING):
        [event] = PROVIDER.parse_status(signed(status_body("teleported"), TelnyxKeys()))
    assert event.status is Status.UNKNOWN and "teleported" in caplog.text


def test_build_send_posts_json_with_the_api_key_as_bearer():
    request = PROVIDER.build_send(
        OutboundMessage(
            sid="SM" + "1" * 32,
            sender="+12015550124",
            to=FR_MOBILE,
            body="Bonjour",
            status_callback="https://gw/webhooks/telnyx/status",
        ),
        Credentials("", "KEY01", "https://api.telnyx.com"),
    )
    assert (request.method, str(request.url)) == ("POST", "https://api.telnyx.com/v2/messages")
    assert request.headers["authorization"] == "Bearer KEY01"
    assert json.loads(request.content) == {
        "from": "+12015550124",
        "to": FR_MOBILE,
        "text": "Bonjour",
        "webhook_url": "https://gw/webhooks/telnyx/status",
    }


def test_read_send_takes_data_id():
    response = httpx2.Response(200, json={"data": {"id": "40385f64", "to": [{"status": "queued"}]}})
    result = PROVIDER.read_send(response)
    assert (result.provider_sid, result.status) == ("40385f64", Status.QUEUED)


def test_read_send_429_is_throttled_and_5xx_retryable():
    with pytest.raises(Throttled) as throttled:
        PROVIDER.read_send(httpx2.Response(429, headers={"retry-after": "2"}, json={"errors": []}))
    assert throttled.value.retry_after == 2
    with pytest.raises(Retryable):
        PROVIDER.read_send(httpx2.Response(502, json={"errors": [{"code": "10011"}]}))


def test_read_send_invalid_to_is_rejected_with_21211():
    response = httpx2.Response(400, json={"errors": [{"code": "40310", "title": "Invalid 'to' address"}]})
    with pytest.raises(Rejected) as rejected:
        PROVIDER.read_send(response)
    assert rejected.value.code == 21211 and "40310" in rejected.value.message


def test_the_official_sdk_and_our_verify_agree_on_good_forged_and_stale_webhooks():
    """telnyx-python's verify_webhook_signature (PyNaCl) and our verify (cryptography) accept and refuse alike."""
    import time

    from telnyx.lib.webhook_verification import WebhookVerificationError, verify_webhook_signature

    keys, now = TelnyxKeys(), int(time.time())
    ours = TelnyxProvider(clock=lambda: now)
    cases = {
        "good": signed(received("Arrêt"), keys, at=now),
        "forged": signed(received(), keys, at=now, key=Ed25519PrivateKey.generate()),
        "stale": signed(received(), keys, at=now - 400),
    }
    for name, raw in cases.items():
        try:
            verify_webhook_signature(raw.body, raw.headers, keys.public_base64)
            sdk = True
        except WebhookVerificationError:
            sdk = False
        try:
            ours.verify(raw, keys.public_base64)
            we = True
        except WebhookRejected:
            we = False
        assert (name, sdk, we) == (name, name == "good", name == "good")
