"""The webhook edge when the gateway cannot decide: no valid policy revision means 503, not a guess."""

from __future__ import annotations

import uuid
from pathlib import Path

from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from gateway.app import create_app
from gateway.settings import Settings
from gateway.store.db import migrate
from tests.conftest import ROOT, US_MOBILE


def test_an_inbound_webhook_without_a_valid_policy_is_503_and_stores_nothing(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    (tmp_path / "policies").mkdir()  # no global.toml: no revision can load
    settings = Settings(
        database_url=url,
        policies_dir=tmp_path / "policies",
        locales_dir=ROOT / "locales",
        workers=False,
        twilio_auth_token="provider-token",
        public_url="http://testserver",
    )
    params = {"MessageSid": "SM" + uuid.uuid4().hex, "From": US_MOBILE, "To": "+12015550124", "Body": "STOP"}
    signature = RequestValidator("provider-token").compute_signature(
        "http://testserver/webhooks/twilio/inbound", params
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 503
        response = client.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})
        assert (response.status_code, response.json()["code"]) == (503, 20500)
        assert client.get("/healthz").status_code == 200
