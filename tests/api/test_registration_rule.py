"""One rule for every provider, the simulator included: a number, short code or alpha sender is
refused with a 400 naming what to set unless the gateway can send with its provider and verify
its webhooks; and nothing an account registers can take the gateway out of service (SQLite and
PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.providers import PROVIDERS
from gateway.settings import Settings
from tests.flows.provider_standins import TelnyxKeys

US_NUMBER = "+12015550124"

#: Everything each provider needs; a test leaves one provider's out.
CONFIGURED: dict[str, dict[str, Any]] = {
    "sim": {"simulator_url": "http://127.0.0.1:9/sim", "simulator_token": "token"},
    "twilio": {"twilio_account_sid": "AC" + "0" * 32, "twilio_auth_token": "token"},
    "telnyx": {"telnyx_api_key": "KEY", "telnyx_public_key": TelnyxKeys().public_base64},
    "vonage": {"vonage_api_key": "key", "vonage_api_secret": "secret", "vonage_signature_secret": "secret"},
    "plivo": {"plivo_auth_id": "MA", "plivo_auth_token": "token"},
    "smpp": {"smpp_url": "smpp://127.0.0.1:9", "smpp_system_id": "gateway", "smpp_password": "secret"},
}
UNSET: dict[str, dict[str, Any]] = {
    "sim": {"simulator_url": None, "simulator_token": None},
    "twilio": {"twilio_account_sid": "", "twilio_auth_token": ""},
    "telnyx": {"telnyx_api_key": "", "telnyx_public_key": ""},
    "vonage": {"vonage_api_key": "", "vonage_api_secret": "", "vonage_signature_secret": ""},
    "plivo": {"plivo_auth_id": "", "plivo_auth_token": ""},
    "smpp": {"smpp_url": "", "smpp_system_id": "", "smpp_password": ""},
}
#: What the 400 names for a provider with nothing set.
VARIABLES = {
    "sim": ["GATEWAY_SIMULATOR=true (or GATEWAY_SIMULATOR_URL)", "GATEWAY_SIMULATOR_TOKEN"],
    "twilio": ["GATEWAY_TWILIO_ACCOUNT_SID", "GATEWAY_TWILIO_AUTH_TOKEN"],
    "telnyx": ["GATEWAY_TELNYX_API_KEY", "GATEWAY_TELNYX_PUBLIC_KEY"],
    "vonage": ["GATEWAY_VONAGE_API_KEY", "GATEWAY_VONAGE_API_SECRET", "GATEWAY_VONAGE_SIGNATURE_SECRET"],
    "plivo": ["GATEWAY_PLIVO_AUTH_ID", "GATEWAY_PLIVO_AUTH_TOKEN"],
    "smpp": ["GATEWAY_SMPP_URL", "GATEWAY_SMPP_SYSTEM_ID", "GATEWAY_SMPP_PASSWORD"],
}


def configured(settings: Settings, *, without: str | None = None, **changes: Any) -> Settings:
    every = {key: value for name, fields in CONFIGURED.items() for key, value in fields.items()}
    return settings.with_(workers=False, **every | (UNSET[without] if without else {}) | changes)


@pytest.fixture
def gateway(settings: Settings) -> Iterator[Any]:
    """A client for a gateway built from `settings` by the test, with an account."""
    clients: list[TestClient] = []

    def start(chosen: Settings) -> tuple[TestClient, tuple[str, str]]:
        client = TestClient(create_app(chosen))
        clients.append(client.__enter__())
        account = client.app.state.accounts.create("registrations")  # type: ignore[attr-defined]
        return client, (account.sid, account.auth_token)

    yield start
    for client in reversed(clients):
        client.__exit__(None, None, None)


def register_number(client: TestClient, auth: tuple[str, str], provider: str) -> Any:
    return client.post(
        f"/2010-04-01/Accounts/{auth[0]}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": US_NUMBER, "Provider": provider},
        auth=auth,
    )


def new_service(client: TestClient, auth: tuple[str, str]) -> str:
    return str(client.post("/v1/Services", data={"FriendlyName": "Acme"}, auth=auth).json()["sid"])


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_number_of_a_provider_without_credentials_or_secret_is_refused_naming_every_variable(
    gateway, settings, provider
):
    client, auth = gateway(configured(settings, without=provider))
    response = register_number(client, auth, provider)
    assert response.status_code == 400 and response.json()["status"] == 400
    assert all(variable in response.json()["message"] for variable in VARIABLES[provider])
    assert (
        client.get(f"/2010-04-01/Accounts/{auth[0]}/IncomingPhoneNumbers.json", auth=auth).json()[
            "incoming_phone_numbers"
        ]
        == []
    )


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_number_of_a_fully_configured_provider_is_registered(gateway, settings, provider):
    client, auth = gateway(configured(settings))
    response = register_number(client, auth, provider)
    assert response.status_code == 201 and response.json()["provider"] == provider


def test_a_provider_that_can_send_but_not_verify_its_webhooks_is_refused_naming_the_secret(gateway, settings):
    client, auth = gateway(configured(settings, telnyx_public_key=""))
    response = register_number(client, auth, "telnyx")
    assert response.status_code == 400 and "GATEWAY_TELNYX_PUBLIC_KEY" in response.json()["message"]
    assert "GATEWAY_TELNYX_API_KEY" not in response.json()["message"]


def test_the_simulator_turned_off_refuses_its_numbers(gateway, settings):
    client, auth = gateway(configured(settings, without="sim", simulator=False))
    response = register_number(client, auth, "sim")
    assert response.status_code == 400 and "GATEWAY_SIMULATOR=true" in response.json()["message"]


def test_the_simulator_turned_on_takes_its_numbers(gateway, settings):
    client, auth = gateway(configured(settings, without="sim", simulator=True))
    assert register_number(client, auth, "sim").status_code == 201


def test_a_short_code_of_an_unusable_provider_is_refused(gateway, settings):
    client, auth = gateway(configured(settings, without="twilio"))
    response = client.post(
        f"/v1/Services/{new_service(client, auth)}/ShortCodes",
        data={"ShortCode": "12345", "CountryCode": "US", "Provider": "twilio"},
        auth=auth,
    )
    assert response.status_code == 400 and "GATEWAY_TWILIO_ACCOUNT_SID" in response.json()["message"]


def test_an_alpha_sender_of_an_unusable_provider_is_refused(gateway, settings):
    client, auth = gateway(configured(settings, without="sim"))
    response = client.post(
        f"/v1/Services/{new_service(client, auth)}/AlphaSenders",
        data={"AlphaSender": "AcmeDental", "Provider": "sim"},
        auth=auth,
    )
    assert response.status_code == 400 and "GATEWAY_SIMULATOR_TOKEN" in response.json()["message"]


def test_the_default_provider_follows_the_same_rule(gateway, settings):
    client, auth = gateway(configured(settings, without="twilio", default_provider="twilio"))
    response = client.post(
        f"/2010-04-01/Accounts/{auth[0]}/IncomingPhoneNumbers.json", data={"PhoneNumber": US_NUMBER}, auth=auth
    )
    assert response.status_code == 400 and "GATEWAY_TWILIO_AUTH_TOKEN" in response.json()["message"]


def test_senders_left_with_a_provider_that_lost_its_secret_keep_the_gateway_ready_and_are_reported(
    gateway, settings, caplog
):
    client, auth = gateway(configured(settings))
    assert register_number(client, auth, "twilio").status_code == 201
    later, _ = gateway(configured(settings, twilio_auth_token=""))
    with caplog.at_level(logging.WARNING, logger="gateway"):
        response = later.get("/readyz")
    assert response.status_code == 200 and response.json()["status"] == "ready"
    assert response.json()["stranded_senders"] == {"twilio": {"senders": 1, "set": "GATEWAY_TWILIO_AUTH_TOKEN"}}
    assert "1 sender(s) are registered with provider twilio" in caplog.text


def test_the_stranded_senders_are_logged_once_not_on_every_probe(gateway, settings, caplog):
    client, auth = gateway(configured(settings))
    assert register_number(client, auth, "plivo").status_code == 201
    later, _ = gateway(configured(settings, without="plivo"))
    with caplog.at_level(logging.WARNING, logger="gateway"):
        for _ in range(3):
            later.get("/readyz")
    assert caplog.text.count("registered with provider plivo") == 1


def test_readyz_names_no_stranded_senders_when_every_provider_is_usable(gateway, settings):
    client, auth = gateway(configured(settings))
    assert register_number(client, auth, "vonage").status_code == 201
    assert client.get("/readyz").json()["stranded_senders"] == {}
