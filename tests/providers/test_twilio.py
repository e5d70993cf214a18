"""The Twilio adapter, from bytes: signatures, status callbacks, the send request and its answer."""

from __future__ import annotations

import base64
import hashlib
import logging
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx2
import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from gateway.providers import PROVIDERS
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
from gateway.providers.twilio import PROVIDER, compute_signature

PAYLOADS = Path(__file__).parent / "payloads" / "twilio"
US_MOBILE = phonenumbers.format_number(
    phonenumbers.example_number_for_type("US", phonenumbers.PhoneNumberType.MOBILE), phonenumbers.PhoneNumberFormat.E164
)
SENDER = "+15005550006"  # Twilio's magic "valid From" test number
TOKEN = "test-auth-token"
ACCOUNT_SID = "AC" + "0" * 32
CALLBACK_URL = "https://gateway.example.com/webhooks/twilio/status"
CREDENTIALS = Credentials(account_sid=ACCOUNT_SID, auth_token=TOKEN, base_url="https://api.twilio.com")

# Twilio's worked example (https://www.twilio.com/docs/usage/webhooks/webhooks-security). Note the
# Caller/From number: +12349013030 gives the documented signature; +14158675310 does not.
DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def signed(url: str, body: bytes, token: str = TOKEN, *, signed_url: str | None = None) -> RawRequest:
    """A webhook whose signature was computed by Twilio's own SDK on `signed_url` (default: `url`)."""
    form = parse_form(body)
    signature = RequestValidator(token).compute_signature(signed_url or url, FormData(form))
    return RawRequest(public_url=url, headers={"x-twilio-signature": signature}, body=body, form=form)


def unsigned(body: bytes) -> RawRequest:
    return RawRequest(public_url=CALLBACK_URL, headers={}, body=body, form=parse_form(body))


def message(**changes: object) -> OutboundMessage:
    fields: dict[str, object] = {"sid": "msg_01J8ZK4Q", "sender": SENDER, "to": US_MOBILE, "body": "Your code is 1234"}
    return OutboundMessage(**{**fields, **changes})  # type: ignore[arg-type]


def sent_fields(request: httpx2.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.content.decode(), keep_blank_values=True)


# Signatures


def test_documented_signature_vector_is_reproduced() -> None:
    """Twilio's published example (token 12345) gives its published signature."""
    assert compute_signature(DOCS_URL, DOCS_PARAMS, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


_field = st.tuples(
    st.sampled_from(["To", "From", "Body", "MediaUrl", "a", "B", "Z_", "é"]),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
)


@given(url=st.sampled_from([CALLBACK_URL, "http://127.0.0.1:8765/s?x=1&y=%2B"]), form=st.lists(_field, max_size=8))
def test_signature_agrees_with_twilio_sdk_including_repeated_keys(url: str, form: list[tuple[str, str]]) -> None:
    """Any form, repeated names and equal values included, signs exactly as twilio-python signs it."""
    assert compute_signature(url, form, TOKEN) == RequestValidator(TOKEN).compute_signature(url, FormData(form))


@pytest.mark.parametrize(
    ("signed_url", "public_url"),
    [
        ("https://gateway.example.com/s", "https://gateway.example.com:443/s"),
        ("https://gateway.example.com:443/s", "https://gateway.example.com/s"),
        ("http://127.0.0.1:8000/s", "http://127.0.0.1:8000/s"),
        ("http://127.0.0.1/s", "http://127.0.0.1:8000/s"),
    ],
)
def test_verify_accepts_the_url_with_or_without_its_port(signed_url: str, public_url: str) -> None:
    """A signature over the URL as given, without its port or with the default port verifies."""
    raw = signed(public_url, payload("status_delivered.form"), signed_url=signed_url)
    assert PROVIDER.verify(raw, TOKEN) is None  # raises WebhookRejected when the signature does not hold
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(raw, "another-token")


def test_verify_rejects_a_signature_over_another_port() -> None:
    """A signature computed for port 8443 does not verify on the default https port."""
    raw = signed(
        "https://gateway.example.com/s",
        payload("status_delivered.form"),
        signed_url="https://gateway.example.com:8443/s",
    )
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(raw, TOKEN)


def test_verify_rejects_a_missing_signature() -> None:
    """A callback without X-Twilio-Signature is rejected."""
    with pytest.raises(WebhookRejected, match="missing"):
        PROVIDER.verify(unsigned(payload("status_delivered.form")), TOKEN)


def test_verify_rejects_a_signature_made_with_another_token() -> None:
    """A callback signed with someone else's auth token is rejected."""
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(signed(CALLBACK_URL, payload("status_delivered.form"), "forger-token"), TOKEN)


def test_verify_rejects_a_tampered_field() -> None:
    """Changing a signed field after signing breaks the signature."""
    raw = signed(CALLBACK_URL, payload("status_undelivered_30003.form"))
    tampered = raw.body.replace(b"undelivered", b"delivered")
    forged = RawRequest(raw.public_url, raw.headers, tampered, parse_form(tampered))
    with pytest.raises(WebhookRejected):
        PROVIDER.verify(forged, TOKEN)


def test_verify_checks_the_body_hash_of_json_webhooks() -> None:
    """A JSON webhook signs its URL with bodySHA256; a body that does not hash to it is rejected."""
    body = b'{"CallSid":"CA1234567890ABCDE","Caller":"+12349013030"}'
    url = f"{CALLBACK_URL}?bodySHA256={hashlib.sha256(body).hexdigest()}"
    signature = compute_signature(url, (), TOKEN)
    PROVIDER.verify(RawRequest(url, {"x-twilio-signature": signature}, body, ()), TOKEN)
    with pytest.raises(WebhookRejected, match="bodySHA256"):
        PROVIDER.verify(RawRequest(url, {"x-twilio-signature": signature}, body + b" ", ()), TOKEN)


# Status callbacks


def test_parse_status_reads_a_delivered_callback() -> None:
    """A captured `delivered` callback becomes one DELIVERED event with no error code."""
    [event] = PROVIDER.parse_status(unsigned(payload("status_delivered.form")))
    assert (event.provider_sid, event.status, event.error_code) == (
        "SM5c3f0a4e2d1b4c6a9e8f7d6c5b4a3921",
        Status.DELIVERED,
        None,
    )
    assert event.raw["RawDlrDoneDate"] == "2303222338"


def test_parse_status_reads_the_error_code_of_an_undelivered_callback() -> None:
    """A captured `undelivered` callback carries ErrorCode 30003 as an int."""
    [event] = PROVIDER.parse_status(unsigned(payload("status_undelivered_30003.form")))
    assert (event.status, event.error_code) == (Status.UNDELIVERED, 30003)


def test_parse_status_maps_an_unknown_word_to_unknown_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    """A status word missing from the table becomes UNKNOWN with a warning, never an exception."""
    with caplog.at_level(logging.WARNING, logger="gateway.providers.twilio"):
        [event] = PROVIDER.parse_status(unsigned(payload("status_unknown.form")))
    assert event.status is Status.UNKNOWN
    assert "partially_delivered" in caplog.text


def test_parse_status_rejects_a_callback_without_message_sid() -> None:
    """A body with no MessageSid is malformed, so the edge answers 400."""
    with pytest.raises(MalformedWebhook):
        PROVIDER.parse_status(unsigned(b"MessageStatus=delivered"))


@pytest.mark.parametrize("missing", ["MessageSid", "From", "To"])
def test_parse_inbound_rejects_a_message_without_a_required_field(missing: str) -> None:
    """MessageSid, From and To are what an inbound message must carry; the edge answers 400 without one."""
    fields = {"MessageSid": "SM" + "a" * 32, "From": "+12015550123", "To": "+14155550100", "Body": "STOP"}
    del fields[missing]
    with pytest.raises(MalformedWebhook, match="MessageSid, From or To"):
        PROVIDER.parse_inbound(unsigned(urlencode(fields).encode()))


def test_verify_refuses_every_signature_when_no_token_is_configured() -> None:
    """An HMAC keyed with the empty string is computable by anyone: no token means no webhook verifies,
    not even one signed with that empty key."""
    raw = signed(CALLBACK_URL, payload("status_delivered.form"), "")
    with pytest.raises(WebhookRejected, match="no auth token"):
        PROVIDER.verify(raw, "")


# Sending


def test_build_send_posts_the_form_to_the_messages_resource() -> None:
    """The request is a form POST to Messages.json with Twilio's field names, MediaUrl repeated."""
    request = PROVIDER.build_send(
        message(
            media_urls=("https://m.example/1.jpg", "https://m.example/2.jpg"),
            status_callback=CALLBACK_URL,
            validity_period=600,
        ),
        CREDENTIALS,
    )
    assert (request.method, str(request.url)) == (
        "POST",
        f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
    )
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent_fields(request) == [
        ("To", US_MOBILE),
        ("From", SENDER),
        ("Body", "Your code is 1234"),
        ("MediaUrl", "https://m.example/1.jpg"),
        ("MediaUrl", "https://m.example/2.jpg"),
        ("StatusCallback", CALLBACK_URL),
        ("ValidityPeriod", "600"),
    ]


def test_build_send_omits_unset_optional_fields() -> None:
    """Without media, callback or validity period only To, From and Body are sent, as the SDK does."""
    assert [name for name, _ in sent_fields(PROVIDER.build_send(message(), CREDENTIALS))] == ["To", "From", "Body"]


def test_build_send_authenticates_with_account_sid_and_token() -> None:
    """Authorization is HTTP Basic with AccountSid:AuthToken."""
    request = PROVIDER.build_send(message(), CREDENTIALS)
    assert request.headers["authorization"] == "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{TOKEN}".encode()).decode()


def test_build_send_uses_the_message_sid_as_idempotency_token() -> None:
    """I-Twilio-Idempotency-Token carries the gateway's message sid, so a retry cannot send twice."""
    assert PROVIDER.build_send(message(), CREDENTIALS).headers["i-twilio-idempotency-token"] == "msg_01J8ZK4Q"


def test_build_send_joins_a_base_url_with_a_trailing_slash() -> None:
    """A base URL ending in / (or mounted under a path) gives one slash before the API version."""
    credentials = Credentials(ACCOUNT_SID, TOKEN, "http://127.0.0.1:8000/sim/")
    assert str(PROVIDER.build_send(message(), credentials).url).startswith("http://127.0.0.1:8000/sim/2010-04-01/")


def test_read_send_returns_the_sid_and_status_of_a_created_message() -> None:
    """A 201 with Twilio's message JSON gives the provider sid and QUEUED."""
    response = httpx2.Response(201, json={"sid": "SM" + "a" * 32, "status": "queued"})
    result = PROVIDER.read_send(response)
    assert (result.provider_sid, result.status) == ("SM" + "a" * 32, Status.QUEUED)


def test_read_send_turns_429_into_throttled_with_retry_after_seconds() -> None:
    """429 with `Retry-After: 7` raises Throttled waiting 7 seconds."""
    response = httpx2.Response(429, headers={"Retry-After": "7"}, json={"code": 20429, "message": "Too Many Requests"})
    with pytest.raises(Throttled) as caught:
        PROVIDER.read_send(response)
    assert caught.value.retry_after == 7.0


def test_read_send_reads_an_http_date_retry_after_against_the_server_date() -> None:
    """An HTTP-date Retry-After is measured from the response's own Date header."""
    headers = {"Date": "Wed, 21 Oct 2015 07:28:00 GMT", "Retry-After": "Wed, 21 Oct 2015 07:28:30 GMT"}
    with pytest.raises(Throttled) as caught:
        PROVIDER.read_send(httpx2.Response(429, headers=headers))
    assert caught.value.retry_after == 30.0


def test_read_send_turns_503_into_retryable() -> None:
    """A 5xx is Retryable (not Throttled, not Rejected)."""
    with pytest.raises(Retryable) as caught:
        PROVIDER.read_send(httpx2.Response(503, json={"code": 20503, "message": "Service unavailable"}))
    assert type(caught.value) is Retryable


def test_read_send_turns_400_into_rejected_with_twilio_code() -> None:
    """A 400 carries Twilio's JSON code (21211) and message into Rejected."""
    body = {
        "code": 21211,
        "message": "The 'To' number +1555 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    with pytest.raises(Rejected) as caught:
        PROVIDER.read_send(httpx2.Response(400, json=body))
    assert (caught.value.code, caught.value.message) == (21211, body["message"])


def test_read_send_falls_back_to_the_http_status_without_json() -> None:
    """A 4xx without a JSON body is Rejected with the HTTP status as its code."""
    with pytest.raises(Rejected) as caught:
        PROVIDER.read_send(httpx2.Response(404, text="<html>Not Found</html>"))
    assert caught.value.code == 404


def test_sim_is_registered_as_the_twilio_adapter_under_its_own_name() -> None:
    """The registry holds both slugs, and `sim` speaks Twilio's wire format."""
    assert PROVIDERS["twilio"].name == "twilio"
    assert PROVIDERS["sim"].name == "sim"
    assert type(PROVIDERS["sim"]) is type(PROVIDERS["twilio"])


def test_form_keeps_blank_and_repeated_fields() -> None:
    """parse_form keeps every field, because the signature covers all of them."""
    assert parse_form(urlencode([("MediaUrl", "a"), ("MediaUrl", "b"), ("Body", "")]).encode()) == (
        ("MediaUrl", "a"),
        ("MediaUrl", "b"),
        ("Body", ""),
    )
