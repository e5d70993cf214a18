"""A provider is one module: registering a fake one makes it configured from GATEWAY_* variables,
verified at the webhook edge, and listed wherever providers are (the registration rule, /readyz,
`gateway providers`); the real registry is what openapi.yaml and the README's settings table list."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from gateway.app import create_app
from gateway.cli import main
from gateway.errors import SettingsError
from gateway.providers import MODULES, ProviderSettings
from gateway.providers.base import Credentials
from gateway.providers.module import ProviderModule, setting, variable
from gateway.providers.twilio import TwilioProvider
from gateway.settings import Settings, load_settings, settings_type
from tests.conftest import ROOT, SECRET_KEY, US_MOBILE

OUR_NUMBER = "+12015550124"


@dataclass(frozen=True)
class FakeSettings:
    fake_api_key: str = setting("", send=True, secret=True)
    fake_webhook_secret: str = setting("", verify=True, secret=True)
    fake_base_url: str = setting("https://api.fake.example", url=True)
    fake_patience: float = setting(2.5)


#: A provider speaking Twilio's wire format under its own name, as `sim` does.
FAKE = ProviderModule(
    TwilioProvider(name="fake"),
    lambda settings: Credentials("", settings.fake_api_key, settings.fake_base_url),
    FakeSettings,
)
FAKE_ENVIRONMENT = {
    "GATEWAY_FAKE_API_KEY": "fake-key",
    "GATEWAY_FAKE_WEBHOOK_SECRET": "fake-hook-secret",
    "GATEWAY_FAKE_BASE_URL": "http://127.0.0.1:9/",
}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake provider registered: one module, one entry in the registry."""
    monkeypatch.setitem(MODULES, "fake", FAKE)


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The variables of a gateway on the test's database, without workers."""
    return {
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_POLICIES_DIR": str(ROOT / "policies"),
        "GATEWAY_LOCALES_DIR": str(ROOT / "locales"),
        "GATEWAY_SECRET_KEY": SECRET_KEY,
        "GATEWAY_WORKERS": "false",
        "GATEWAY_PUBLIC_URL": "http://testserver",
    } | extra


@pytest.fixture
def gateway(fake: None, settings: Settings) -> Iterator[tuple[TestClient, tuple[str, str]]]:
    """A gateway configured for the fake provider from the environment, with an account."""
    with TestClient(create_app(load_settings(environment(settings, **FAKE_ENVIRONMENT)))) as client:
        account = client.app.state.accounts.create("fake")  # type: ignore[attr-defined]
        yield client, (account.sid, account.auth_token)


def register(client: TestClient, auth: tuple[str, str]) -> Any:
    return client.post(
        f"/2010-04-01/Accounts/{auth[0]}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": OUR_NUMBER, "Provider": "fake"},
        auth=auth,
    )


def signed_inbound(client: TestClient, secret: str) -> Any:
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": US_MOBILE, "To": OUR_NUMBER, "Body": "STOP"}
    url = "http://testserver/webhooks/fake/inbound"
    signature = RequestValidator(secret).compute_signature(url, params)
    return client.post("/webhooks/fake/inbound", data=params, headers={"X-Twilio-Signature": signature})


def test_a_registered_modules_settings_are_read_from_its_gateway_variables(fake):
    settings: Any = load_settings(FAKE_ENVIRONMENT | {"GATEWAY_FAKE_PATIENCE": "4"})
    assert (settings.fake_api_key, settings.fake_base_url, settings.fake_patience) == (
        "fake-key",
        "http://127.0.0.1:9",
        4.0,
    )
    assert settings.webhook_secrets()["fake"] == "fake-hook-secret"
    assert "fake" not in settings.unusable_providers()
    assert "fake-key" not in repr(settings)  # declared secret


def test_a_registered_modules_bad_number_names_its_variable(fake):
    with pytest.raises(SettingsError, match="GATEWAY_FAKE_PATIENCE='-1' must be positive"):
        load_settings({"GATEWAY_FAKE_PATIENCE": "-1"})


def test_a_registered_module_can_be_the_default_provider(fake):
    assert load_settings({"GATEWAY_DEFAULT_PROVIDER": "fake"}).provider_default == "fake"


def test_a_registered_module_without_its_variables_is_refused_at_registration_naming_them(fake, settings):
    with TestClient(create_app(load_settings(environment(settings)))) as client:
        account = client.app.state.accounts.create("fake")  # type: ignore[attr-defined]
        response = register(client, (account.sid, account.auth_token))
    assert response.status_code == 400
    assert "set GATEWAY_FAKE_API_KEY, GATEWAY_FAKE_WEBHOOK_SECRET before" in response.json()["message"]


def test_the_webhook_edge_checks_a_registered_modules_signature_with_its_secret(gateway):
    client, auth = gateway
    assert register(client, auth).status_code == 201
    assert signed_inbound(client, "another-secret").status_code == 403
    assert signed_inbound(client, "fake-hook-secret").status_code == 200


def test_readyz_lists_a_registered_module(gateway):
    body = gateway[0].get("/readyz").json()
    assert body["webhooks"]["fake"] == "verified"
    assert body["providers"]["fake"] == {"state": "healthy", "since": None}


def test_gateway_providers_lists_a_registered_module(fake, monkeypatch, capsys):
    for name, value in FAKE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    assert main(["providers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "fake: ready" in lines
    assert [line.split(":")[0] for line in lines] == sorted(MODULES)


def test_settings_inherits_every_built_in_modules_settings():
    """So their fields are typed constructor keywords (`Settings(twilio_auth_token=...)`)."""
    declared = {module.settings for module in MODULES.values() if module.settings is not None}
    assert declared == set(ProviderSettings.__bases__)
    assert settings_type() is Settings


def test_openapis_provider_enums_are_the_registrys_slugs():
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    enums = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            if key == "Provider" or node.get("name") == "Provider":
                enums.append((node.get("schema") or node)["enum"])
            for name, value in node.items():
                walk(value, name)
        elif isinstance(node, list):
            for value in node:
                walk(value, key)

    walk(document)
    assert len(enums) == 5
    assert all(sorted(enum) == sorted(MODULES) for enum in enums)


def test_the_readme_settings_table_has_every_provider_setting_with_its_default():
    rows = [
        line.split(" | ")
        for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `GATEWAY_")
    ]
    for field in (field for module in MODULES.values() for field in module.fields()):
        [row] = [row for row in rows if re.search(rf"`{variable(field)}`", row[0])]
        default = f"{field.default:g}" if isinstance(field.default, float) else field.default
        assert (f"`{default}`" in row[1]) if default else row[1].startswith("—"), (variable(field), row[1])


def test_provider_settings_are_read_from_the_environment_with_their_declared_defaults():
    loaded = load_settings({})
    for field in (field for module in MODULES.values() for field in module.fields()):
        assert getattr(loaded, field.name) == field.default == getattr(Settings(), field.name)
