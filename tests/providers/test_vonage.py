"""Vonage's adapter with bytes: `sig` in each algorithm with a 300 s window, inbound parts,
delivery receipts, /sms/json and its 200-with-an-error answers."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl, urlencode

import httpx2
import pytest

from gateway.providers.base import (
    Credentials,
    MalformedWebhook,
    OutboundMessage,
    Part,
    RawRequest,
    Rejected,
    Retryable,
    Status,
    Throttled,
    WebhookRejected,
    parse_form,
)
from gateway.providers.vonage import VonageProvider
from tests.conftest import FR_MOBILE
from tests.flows.provider_standins import vonage_signed

NOW = 1_764_610_000
SECRET = "vonage-signature-secret"
PROVIDER = VonageProvider(clock=lambda: NOW)
URL = "https://sms.example.com/webhooks/vonage/inbound"
INBOUND = {
    "msisdn": FR_MOBILE.lstrip("+"),
    "to": "12015550124",
    "messageId": "1700000011A2B3C4",
    "text": "STOP",
    "type": "text",
    "keyword": "STOP",
    "message-timestamp": "2026-12-01 17:26:40",
}


def get(params: dict[str, str]) -> RawRequest:
    """A GET webhook as the edge builds it: fields from the query string, no body."""
    query = urlencode(params)
    return RawRequest(f"{URL}?{query}", {}, b"", tuple(parse_qsl(query, keep_blank_values=True)))


def signed(params: dict[str, str], **signing: object) -> RawRequest:
    return get(vonage_signed(params, at=NOW, **signing))  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["md5hash", "md5", "sha1", "sha256", "sha512"])
def test_each_signature_method_verifies_when_it_is_the_one_set(method):
    assert VonageProvider(method=method, clock=lambda: NOW).verify(signed(INBOUND, method=method), SECRET) is None


def test_ampersands_and_equals_signs_in_values_are_signed_as_underscores():
    """Vonage replaces & and = in values with _ before hashing (vonage-python-sdk's signature)."""
    assert PROVIDER.verify(signed(INBOUND | {"text": "a=b&c"}), SECRET) is None  # raises if refused


def test_a_sig_made_with_another_secret_or_another_method_is_refused():
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(signed(INBOUND, secret="another"), SECRET)
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(signed(INBOUND, method="sha256"), SECRET)


def test_a_changed_field_is_refused():
    params = vonage_signed(INBOUND, at=NOW) | {"text": "START"}
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(get(params), SECRET)


def test_a_signed_timestamp_more_than_300_seconds_old_is_refused_as_a_replay():
    with pytest.raises(WebhookRejected, match="replay"):
        PROVIDER.verify(get(vonage_signed(INBOUND, at=NOW - 301)), SECRET)


def test_no_sig_or_an_empty_secret_is_refused():
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(get(INBOUND), SECRET)
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(signed(INBOUND), "")


def test_inbound_numbers_get_their_plus_and_the_text_is_the_body():
    [message] = PROVIDER.parse_inbound(signed(INBOUND))
    assert (message.provider_sid, message.sender, message.to, message.body) == (
        "1700000011A2B3C4",
        FR_MOBILE,
        "+12015550124",
        "STOP",
    )
    assert message.part is None and dict(message.raw)["vonage.keyword"] == "STOP"


def test_a_post_form_reads_the_same_as_a_get():
    body = urlencode(vonage_signed(INBOUND, at=NOW)).encode()
    raw = RawRequest(URL, {}, body, parse_form(body))
    PROVIDER.verify(raw, SECRET)
    assert PROVIDER.parse_inbound(raw)[0].body == "STOP"


def test_a_concatenated_part_carries_its_ref_number_and_total():
    params = INBOUND | {"concat": "true", "concat-ref": "108", "concat-total": "3", "concat-part": "2"}
    [message] = PROVIDER.parse_inbound(signed(params))
    assert message.part == Part(ref="108", number=2, total=3)


def test_an_impossible_part_number_is_malformed():
    params = INBOUND | {"concat": "true", "concat-ref": "108", "concat-total": "3", "concat-part": "4"}
    with pytest.raises(MalformedWebhook):
        PROVIDER.parse_inbound(signed(params))


RECEIPT = {
    "msisdn": FR_MOBILE.lstrip("+"),
    "to": "12015550124",
    "messageId": "0A0000000123ABCD1",
    "status": "delivered",
    "err-code": "0",
    "client-ref": "SM" + "a" * 32,
    "network-code": "20801",
}


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("accepted", Status.SENT),
        ("buffered", Status.SENT),
        ("delivered", Status.DELIVERED),
        ("expired", Status.UNDELIVERED),
        ("failed", Status.UNDELIVERED),
        ("rejected", Status.FAILED),
    ],
)
def test_each_receipt_status_maps_to_ours(word, status):
    [event] = PROVIDER.parse_status(signed(RECEIPT | {"status": word}))
    assert (event.provider_sid, event.status, event.error_code) == ("0A0000000123ABCD1", status, None)


def test_the_signed_client_ref_names_our_message():
    [event] = PROVIDER.parse_status(signed(RECEIPT))
    assert event.reference == "SM" + "a" * 32


def test_receipt_err_codes_map_to_twilios():
    """err-code 9 (the recipient opted out, Opt-out Assist) becomes 21610; 3 (absent for good) 30005."""
    [opted_out] = PROVIDER.parse_status(signed(RECEIPT | {"status": "rejected", "err-code": "9"}))
    [absent] = PROVIDER.parse_status(signed(RECEIPT | {"status": "failed", "err-code": "3"}))
    assert (opted_out.error_code, absent.error_code) == (21610, 30005)


def test_an_unknown_receipt_status_becomes_unknown_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING):
        [event] = PROVIDER.parse_status(signed(RECEIPT | {"status": "teleported"}))
    assert event.status is Status.UNKNOWN and "teleported" in caplog.text


def test_build_send_posts_the_form_with_key_secret_callback_and_client_ref():
    request = PROVIDER.build_send(
        OutboundMessage(
            sid="SM" + "1" * 32,
            sender="+12015550124",
            to=FR_MOBILE,
            body="Rendez-vous à 9h",
            status_callback="https://gw/s",
        ),
        Credentials("a1b2c3d4", "api-secret", "https://rest.nexmo.com"),
    )
    assert (request.method, str(request.url)) == ("POST", "https://rest.nexmo.com/sms/json")
    assert dict(parse_form(request.content)) == {
        "api_key": "a1b2c3d4",
        "api_secret": "api-secret",
        "from": "12015550124",
        "to": FR_MOBILE.lstrip("+"),
        "text": "Rendez-vous à 9h",
        "type": "text",
        "client-ref": "SM" + "1" * 32,
        "callback": "https://gw/s",
    }


def test_text_outside_gsm_is_sent_as_unicode():
    request = PROVIDER.build_send(
        OutboundMessage(sid="SM1", sender="+12015550124", to=FR_MOBILE, body="配信停止"),
        Credentials("k", "s", "https://rest.nexmo.com"),
    )
    assert dict(parse_form(request.content))["type"] == "unicode"


def answer(status: str, **extra: str) -> httpx2.Response:
    return httpx2.Response(200, json={"message-count": "1", "messages": [{"status": status, **extra}]})


def test_read_send_status_0_is_sent_with_the_message_id():
    result = PROVIDER.read_send(answer("0", **{"message-id": "0A0000000123ABCD1"}))
    assert (result.provider_sid, result.status) == ("0A0000000123ABCD1", Status.SENT)


def test_read_send_status_1_is_throttled_and_5_or_http_5xx_retryable():
    with pytest.raises(Throttled):
        PROVIDER.read_send(answer("1", **{"error-text": "Throttled"}))
    with pytest.raises(Retryable):
        PROVIDER.read_send(answer("5", **{"error-text": "Internal Error"}))
    with pytest.raises(Retryable):
        PROVIDER.read_send(httpx2.Response(503))


def test_read_send_an_unroutable_destination_is_rejected_with_21211():
    with pytest.raises(Rejected) as rejected:
        PROVIDER.read_send(answer("6", **{"error-text": "Unroutable message - rejected"}))
    assert rejected.value.code == 21211 and "vonage 6" in rejected.value.message


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_the_official_sdks_hmac_signatures_verify(method):
    """vonage-http-client's Auth.sign_params (vonage 4) signs; our verify accepts, and its check_signature
    accepts what our test signer makes (the SDK 4 has no md5hash; the test signer covers that one)."""
    from vonage_http_client.auth import Auth

    auth = Auth(api_key="a1b2c3d4", signature_secret=SECRET, signature_method=method)
    params = INBOUND | {"text": "Arrêt & co = 2", "timestamp": str(NOW), "nonce": "6a1f"}
    params["sig"] = auth.sign_params(dict(params))
    VonageProvider(method=method, clock=lambda: NOW).verify(get(params), SECRET)
    assert auth.check_signature(vonage_signed(INBOUND, at=NOW, method=method))
