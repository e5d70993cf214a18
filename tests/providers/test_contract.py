"""Every entry of PROVIDERS through the same cases (anymail's shared webhook test case): a signed
report is read, an unsigned, forged or empty-secret one refused, an unknown status word UNKNOWN."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator

from gateway.providers import MODULES, PROVIDERS
from gateway.providers.base import RawRequest, Status, WebhookRejected, parse_form
from tests.flows.provider_standins import TelnyxKeys, plivo_signature, vonage_signed

URL = "https://gw.example.com/webhooks/{slug}/status?ref=SM" + "a" * 32
KEYS = TelnyxKeys()
SID = "provider-message-1"


def _twilio(slug: str, word: str, secret: str) -> RawRequest:
    url = URL.format(slug=slug)
    form = parse_form(urlencode({"MessageSid": SID, "MessageStatus": word}).encode())
    signature = RequestValidator(secret).compute_signature(url, FormData(form))
    body = urlencode(form).encode()
    return RawRequest(url, {"x-twilio-signature": signature}, body, form)


def _telnyx(slug: str, word: str, secret: str) -> RawRequest:
    body = json.dumps(
        {
            "data": {
                "event_type": "message.finalized",
                "payload": {"id": SID, "to": [{"phone_number": "+33612345678", "status": word}]},
            }
        }
    ).encode()
    stamp = str(int(time.time()))
    signature = base64.b64encode(KEYS.private.sign(stamp.encode() + b"|" + body)).decode()
    return RawRequest(
        URL.format(slug=slug),
        {"telnyx-signature-ed25519": signature, "telnyx-timestamp": stamp},
        body,
        parse_form(body),
    )


def _vonage(slug: str, word: str, secret: str) -> RawRequest:
    query = urlencode(vonage_signed({"messageId": SID, "status": word, "msisdn": "33612345678"}, secret=secret))
    return RawRequest(f"{URL.format(slug=slug).split('?')[0]}?{query}", {}, b"", parse_form(query.encode()))


def _plivo(slug: str, word: str, secret: str) -> RawRequest:
    url = URL.format(slug=slug)
    params = {"MessageUUID": SID, "Status": word}
    body = urlencode(params).encode()
    return RawRequest(
        url,
        {"x-plivo-signature-v3": plivo_signature(url, params, "n1", secret), "x-plivo-signature-v3-nonce": "n1"},
        body,
        parse_form(body),
    )


#: slug → (how the provider signs a status report, its secret, another secret, the word for delivered)
CASES: dict[str, tuple[Callable[[str, str, str], RawRequest], str, str, str]] = {
    "twilio": (_twilio, "twilio-token", "another-token", "delivered"),
    "sim": (_twilio, "sim-token", "another-token", "delivered"),
    "telnyx": (_telnyx, KEYS.public_base64, TelnyxKeys().public_base64, "delivered"),
    "vonage": (_vonage, "vonage-secret", "another-secret", "delivered"),
    "plivo": (_plivo, "plivo-token", "another-token", "delivered"),
}


WEBHOOKS = sorted(name for name, module in MODULES.items() if module.webhooks)  # not SMPP: it reports over its bind


def test_every_registered_provider_with_webhooks_has_a_contract_case():
    assert set(CASES) == set(WEBHOOKS)


def test_a_provider_without_webhooks_refuses_every_webhook():
    """SMPP's reports come over its bind: a webhook claiming to be one is refused, whatever it carries."""
    with pytest.raises(WebhookRejected):
        PROVIDERS["smpp"].verify(_twilio("smpp", "delivered", "any"), "any")


@pytest.mark.parametrize("slug", WEBHOOKS)
def test_a_signed_delivered_report_is_read(slug):
    sign, secret, _, word = CASES[slug]
    raw = sign(slug, word, secret)
    PROVIDERS[slug].verify(raw, secret)
    [event] = PROVIDERS[slug].parse_status(raw)
    assert (event.provider_sid, event.status) == (SID, Status.DELIVERED)


@pytest.mark.parametrize("slug", WEBHOOKS)
def test_a_report_checked_with_another_secret_is_refused(slug):
    sign, secret, other, word = CASES[slug]
    with pytest.raises(WebhookRejected):
        PROVIDERS[slug].verify(sign(slug, word, secret), other)


@pytest.mark.parametrize("slug", WEBHOOKS)
def test_an_unsigned_report_is_refused(slug):
    sign, secret, _, word = CASES[slug]
    raw = sign(slug, word, secret)
    fields = [(k, v) for k, v in raw.form if k != "sig"]  # Vonage signs in a field, the others in headers
    with pytest.raises(WebhookRejected):
        PROVIDERS[slug].verify(RawRequest(raw.public_url.split("&sig=")[0], {}, raw.body, tuple(fields)), secret)


@pytest.mark.parametrize("slug", WEBHOOKS)
def test_an_empty_secret_refuses_everything(slug):
    sign, secret, _, word = CASES[slug]
    with pytest.raises(WebhookRejected):
        PROVIDERS[slug].verify(sign(slug, word, secret), "")


@pytest.mark.parametrize("slug", WEBHOOKS)
def test_an_unknown_status_word_is_unknown_not_a_crash(slug):
    sign, secret, _, _ = CASES[slug]
    [event] = PROVIDERS[slug].parse_status(sign(slug, "teleported", secret))
    assert event.status is Status.UNKNOWN
