"""The simulator is for demos and tests: off unless asked for, and never signing with a known token."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.errors import SettingsError
from gateway.settings import Settings, load_settings
from gateway.store.db import migrate
from tests.conftest import ROOT


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    return Settings(database_url=url, policies_dir=ROOT / "policies", locales_dir=ROOT / "locales", workers=False)


def test_the_simulator_is_off_unless_asked_for():
    assert load_settings({}).simulator is False
    assert load_settings({"GATEWAY_SIMULATOR": "true"}).simulator is True


def test_numbers_default_to_the_simulator_only_while_it_runs():
    assert load_settings({}).provider_default == "twilio"
    assert load_settings({"GATEWAY_SIMULATOR": "true"}).provider_default == "sim"
    assert (
        load_settings({"GATEWAY_SIMULATOR": "true", "GATEWAY_DEFAULT_PROVIDER": "twilio"}).provider_default == "twilio"
    )


def test_without_the_simulator_nothing_is_mounted_at_sim(sqlite_settings):
    with TestClient(create_app(sqlite_settings)) as client:
        response = client.post(f"/sim/2010-04-01/Accounts/AC{'0' * 32}/Messages.json", data={"To": "+12015550123"})
    assert response.status_code == 404


def test_the_simulator_token_is_random_per_start_unless_set(sqlite_settings):
    first, second = (create_app(sqlite_settings.with_(simulator=True)).state.provider_secrets["sim"] for _ in "ab")
    assert first != second and len(first) >= 20 and "simulator-token" not in (first, second)
    chosen = create_app(sqlite_settings.with_(simulator=True, simulator_token="chosen-by-the-operator"))
    assert chosen.state.provider_secrets["sim"] == "chosen-by-the-operator"


def test_a_simulator_listening_beyond_loopback_is_warned_about_at_start(sqlite_settings, caplog):
    with (
        caplog.at_level(logging.WARNING, logger="gateway"),
        TestClient(create_app(sqlite_settings.with_(simulator=True, host="0.0.0.0"))),
    ):
        pass
    assert "SIMULATOR IS ON WHILE LISTENING ON 0.0.0.0" in caplog.text


def test_a_simulator_on_loopback_is_not_warned_about(sqlite_settings, caplog):
    with (
        caplog.at_level(logging.WARNING, logger="gateway"),
        TestClient(create_app(sqlite_settings.with_(simulator=True))),
    ):
        pass
    assert "SIMULATOR IS ON" not in caplog.text


def test_a_provider_without_a_secret_is_named_at_start(sqlite_settings, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway"), TestClient(create_app(sqlite_settings)):
        pass
    assert (
        "webhooks of provider twilio are refused: no secret configured (set GATEWAY_TWILIO_AUTH_TOKEN)" in caplog.text
    )


def test_the_webhook_body_limit_is_a_setting():
    assert load_settings({}).webhook_max_bytes == 65536
    assert load_settings({"GATEWAY_WEBHOOK_MAX_BYTES": "4096"}).webhook_max_bytes == 4096
    with pytest.raises(SettingsError, match="GATEWAY_WEBHOOK_MAX_BYTES"):
        load_settings({"GATEWAY_WEBHOOK_MAX_BYTES": "lots"})
