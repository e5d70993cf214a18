"""App URLs the gateway would call are checked when saved: only absolute http(s) URLs to a
destination the callback policy allows (21402, or 21609 for a StatusCallback), and a refused one
changes nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings
from tests.api.test_bad_input import Account, assert_refused
from tests.conftest import US_MOBILE

OWN_PORT = 8080
#: Every kind of URL the policy refuses by default, each in the spellings that reach the same place.
REFUSED = {
    "file": "file:///etc/passwd",
    "gopher": "gopher://example.com:70/_GET%20/",
    "no scheme": "example.com/hook",
    "no host": "http:///hook",
    "empty host": "http://",
    "unclosed IPv6 bracket": "http://[::1/hook",
    "underscore in host": "https://my_app.example.com/hook",
    "too long": "https://example.com/" + "a" * 3981,
    "port zero": "https://app.example.com:0/hook",
    "longer than any field": "https://example.com/" + "a" * 5000,
    "loopback": "http://127.0.0.1:9000/hook",
    "localhost": "http://localhost:9000/hook",
    "a name under localhost": "http://app.localhost/hook",
    "IPv6 loopback": "http://[::1]:9000/hook",
    "loopback as one number": "http://2130706433/hook",
    "loopback shortened": "http://127.1/hook",
    "loopback in hex": "http://0x7f.1/hook",
    "IPv4-mapped loopback": "http://[::ffff:127.0.0.1]/hook",
    "cloud metadata": "http://169.254.169.254/latest/meta-data/",
    "unspecified": "http://0.0.0.0:9000/hook",
    "unspecified as zero": "http://0/hook",
    "IPv6 unspecified": "http://[::]/hook",
    "private": "http://10.1.2.3/hook",
    "IPv6 unique local": "http://[fd00::1]/hook",
}
ACCEPTED = "https://user:secret@app.example.com:8443/hooks/sms?x=1#rc=2"


def make_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def strict(settings: Settings) -> Iterator[TestClient]:
    """A gateway with the default policy (nothing beyond public addresses), listening on OWN_PORT."""
    yield from make_client(settings.with_(callback_allow_networks="", port=OWN_PORT))


@pytest.fixture
def private(settings: Settings) -> Iterator[TestClient]:
    """A gateway that lets callbacks reach 10.0.0.0/8 and loopback (where it listens itself)."""
    yield from make_client(settings.with_(callback_allow_networks="10.0.0.0/8, 127.0.0.0/8", port=OWN_PORT))


def send(account: Account, callback: str) -> Any:
    return account.post(
        account.messages,
        {
            "To": US_MOBILE,
            "Body": "See you Tuesday",
            "MessagingServiceSid": account.service,
            "StatusCallback": callback,
        },
    )


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_a_message_status_callback_of_each_refused_kind_is_21609_and_stores_nothing(strict, url):
    account = Account(strict)
    before = account.rows()
    assert_refused(send(account, url), 400, 21609)
    assert account.rows() == before


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_a_service_inbound_url_of_each_refused_kind_is_21402_and_creates_nothing(strict, url):
    account = Account(strict)
    before = account.rows()
    assert_refused(account.post("/v1/Services", {"FriendlyName": "Acme", "InboundRequestUrl": url}), 400, 21402)
    assert account.rows() == before


@pytest.mark.parametrize(
    ("field", "column", "code"),
    [
        ("InboundRequestUrl", "inbound_request_url", 21402),
        ("FallbackUrl", "fallback_url", 21402),
        ("StatusCallback", "status_callback", 21609),
    ],
)
def test_a_service_update_to_cloud_metadata_is_refused_with_its_fields_code_and_changes_nothing(
    strict, field, column, code
):
    account = Account(strict)
    response = account.post(
        f"/v1/Services/{account.service}", {"FriendlyName": "Renamed", field: REFUSED["cloud metadata"]}
    )
    assert_refused(response, 400, code)
    service = strict.get(f"/v1/Services/{account.service}", auth=account.auth).json()
    assert service["friendly_name"] == "Acme Dental" and service[column] is None


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_a_number_sms_url_of_each_refused_kind_is_21402_and_registers_nothing(strict, url):
    account = Account(strict)
    before = account.rows()
    response = account.post(
        f"/2010-04-01/Accounts/{account.sid}/IncomingPhoneNumbers.json", {"PhoneNumber": "+12015550124", "SmsUrl": url}
    )
    assert_refused(response, 400, 21402)
    assert account.rows() == before


def test_a_notification_status_callback_to_cloud_metadata_is_21609_and_sends_nothing(strict):
    account = Account(strict)
    before = account.rows()
    response = account.post(
        f"/v1/Services/{account.service}/Notifications",
        {"ToBinding": US_MOBILE, "Body": "Hi", "StatusCallback": REFUSED["cloud metadata"]},
    )
    assert_refused(response, 400, 21609)
    assert account.rows() == before


def test_a_public_url_with_credentials_port_query_and_fragment_is_saved_as_given(strict):
    account = Account(strict)
    response = account.post(
        f"/v1/Services/{account.service}",
        {"InboundRequestUrl": ACCEPTED, "StatusCallback": "https://app.example.com/s"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["inbound_request_url"] == ACCEPTED
    assert send(account, "https://app.example.com/status").status_code == 201


def test_the_refusal_says_why_and_names_the_setting_that_opens_networks(strict):
    body = send(Account(strict), REFUSED["private"]).json()
    assert (
        body["message"].startswith("Invalid 'StatusCallback' URL")
        and "GATEWAY_CALLBACK_ALLOW_NETWORKS" in body["message"]
    )


def test_a_private_address_is_accepted_once_its_network_is_allowed(private):
    account = Account(private)
    response = account.post(f"/v1/Services/{account.service}", {"InboundRequestUrl": REFUSED["private"]})
    assert response.status_code == 200, response.text
    assert response.json()["inbound_request_url"] == REFUSED["private"]


def test_the_gateways_own_listening_address_is_refused_even_inside_an_allowed_network(private):
    account = Account(private)
    assert_refused(send(account, f"http://127.0.0.1:{OWN_PORT}/metrics"), 400, 21609)
    assert_refused(send(account, f"http://localhost:{OWN_PORT}/metrics"), 400, 21609)
    assert send(account, "http://127.0.0.1:9000/status").status_code == 201  # another port there is an app


def test_a_gateway_listening_on_every_address_refuses_loopback_at_its_own_port(settings):
    """Bound to 0.0.0.0, the gateway answers on every loopback address at its port, allowed network or not."""
    everywhere = settings.with_(host="0.0.0.0", port=OWN_PORT, callback_allow_networks="127.0.0.0/8")
    for client in make_client(everywhere):
        account = Account(client)
        assert_refused(send(account, f"http://127.0.0.2:{OWN_PORT}/metrics"), 400, 21609)
        assert send(account, "http://127.0.0.2:9000/status").status_code == 201


def test_a_url_under_the_gateways_public_url_is_refused(settings):
    public = settings.with_(public_url="https://sms.example.com/gateway")
    for client in make_client(public):
        account = Account(client)
        assert_refused(send(account, "https://sms.example.com/gateway/metrics"), 400, 21609)
        assert send(account, "https://sms.example.com/app/status").status_code == 201
