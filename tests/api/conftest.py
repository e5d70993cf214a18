"""An app on a fresh database (SQLite and PostgreSQL) with the shipped policies, per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings
from gateway.store.db import migrate
from tests.conftest import ROOT, SECRET_KEY


@pytest.fixture
def settings(database_url: str) -> Settings:
    url = database_url
    migrate(url)
    return Settings(
        database_url=url,
        policies_dir=ROOT / "policies",
        locales_dir=ROOT / "locales",
        secret_key=SECRET_KEY,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
        twilio_base_url="http://127.0.0.1:9",  # numbers register with Twilio; nothing reaches it
        callback_allow_networks="127.0.0.0/8",
    )  # stand-in apps


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client
