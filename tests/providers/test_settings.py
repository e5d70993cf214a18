"""Provider settings from the environment: credentials, secrets, base URLs and what is missing."""

from __future__ import annotations

import pytest

from gateway.errors import SettingsError
from gateway.providers import configured, smpp
from gateway.settings import load_settings

ENVIRONMENT = {
    "GATEWAY_TELNYX_API_KEY": "KEY01",
    "GATEWAY_TELNYX_PUBLIC_KEY": "cHVibGlj",
    "GATEWAY_TELNYX_BASE_URL": "http://127.0.0.1:9001/",
    "GATEWAY_VONAGE_API_KEY": "a1b2c3d4",
    "GATEWAY_VONAGE_API_SECRET": "secret",
    "GATEWAY_VONAGE_SIGNATURE_SECRET": "sig-secret",
    "GATEWAY_VONAGE_SIGNATURE_METHOD": "SHA256",
    "GATEWAY_PLIVO_AUTH_ID": "MAXXXX",
    "GATEWAY_PLIVO_AUTH_TOKEN": "token",
    "GATEWAY_SMPP_URL": "smpps://smsc.example.net:3775/",
    "GATEWAY_SMPP_SYSTEM_ID": "acme",
    "GATEWAY_SMPP_PASSWORD": "pw",
    "GATEWAY_SMPP_CONCATENATION": "SAR",
}


def test_each_providers_variables_are_read_and_base_urls_lose_their_slash():
    settings = load_settings(ENVIRONMENT)
    assert (settings.telnyx_api_key, settings.telnyx_base_url) == ("KEY01", "http://127.0.0.1:9001")
    assert (settings.vonage_api_key, settings.vonage_signature_method) == ("a1b2c3d4", "sha256")
    assert (settings.plivo_auth_id, settings.plivo_base_url) == ("MAXXXX", "https://api.plivo.com")
    assert (settings.smpp_url, settings.smpp_concatenation) == ("smpps://smsc.example.net:3775", "sar")


def test_webhook_secrets_are_the_telnyx_public_key_the_vonage_signature_secret_and_the_plivo_token():
    secrets = load_settings(ENVIRONMENT).webhook_secrets()
    assert (secrets["telnyx"], secrets["vonage"], secrets["plivo"]) == ("cHVibGlj", "sig-secret", "token")
    assert {"telnyx", "vonage", "plivo"} <= set(load_settings({}).missing_secrets())


def test_missing_credentials_name_the_variables_to_set():
    missing = load_settings({"GATEWAY_VONAGE_API_KEY": "a1b2c3d4"}).missing_credentials()
    assert missing == {
        "sim": "GATEWAY_SIMULATOR=true (or GATEWAY_SIMULATOR_URL)",
        "twilio": "GATEWAY_TWILIO_ACCOUNT_SID, GATEWAY_TWILIO_AUTH_TOKEN",
        "telnyx": "GATEWAY_TELNYX_API_KEY",
        "vonage": "GATEWAY_VONAGE_API_SECRET",
        "plivo": "GATEWAY_PLIVO_AUTH_ID, GATEWAY_PLIVO_AUTH_TOKEN",
        "smpp": "GATEWAY_SMPP_URL, GATEWAY_SMPP_SYSTEM_ID, GATEWAY_SMPP_PASSWORD",
    }
    assert set(load_settings(ENVIRONMENT).missing_credentials()) == {"sim", "twilio"}


def test_an_unknown_vonage_signature_method_names_its_variable():
    with pytest.raises(SettingsError, match="GATEWAY_VONAGE_SIGNATURE_METHOD"):
        load_settings({"GATEWAY_VONAGE_SIGNATURE_METHOD": "crc32"})


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://smsc.example.net:2775", "must be smpp://host:port, or smpps://host:port for TLS"),
        ("smpp://:2775", "must be smpp://host:port"),
        ("smpp://smsc.example.net:27x5", "its port is not a number"),
    ],
)
def test_an_smpp_url_that_is_not_one_stops_the_start_naming_its_variable(url, reason):
    with pytest.raises(SettingsError, match=f"GATEWAY_SMPP_URL='{url}': {reason}"):
        load_settings(ENVIRONMENT | {"GATEWAY_SMPP_URL": url})


def test_an_smpp_url_without_a_port_is_read_and_binds_to_2775():
    assert smpp.endpoint(load_settings(ENVIRONMENT | {"GATEWAY_SMPP_URL": "smpp://smsc.example.net"}).smpp_url) == (
        "smsc.example.net",
        2775,
        False,
    )


def test_an_unknown_smpp_bind_names_its_variable():
    with pytest.raises(SettingsError, match="GATEWAY_SMPP_BIND='both' must be one of transceiver, pair"):
        load_settings(ENVIRONMENT | {"GATEWAY_SMPP_BIND": "both"})


def test_the_vonage_adapter_checks_with_the_configured_method():
    assert configured(load_settings(ENVIRONMENT))["vonage"].method == "sha256"  # type: ignore[attr-defined]


def test_a_new_provider_can_be_the_default():
    assert load_settings({"GATEWAY_DEFAULT_PROVIDER": "plivo"}).provider_default == "plivo"
