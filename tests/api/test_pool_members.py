"""Short codes and alpha senders created in a pool: a duplicate is a Twilio 400, whatever path it takes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.testclient import TestClient

import gateway.api.services
from gateway.app import create_app
from gateway.settings import Settings
from gateway.store.tables import Sender


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app: Starlette = create_app(settings.with_(workers=False, simulator=False))
    account = app.state.accounts.create("pools")
    with TestClient(app) as test_client:
        test_client.auth = (account.sid, account.auth_token)
        yield test_client


def new_service(client: TestClient) -> str:
    response = client.post("/v1/Services", data={"FriendlyName": "Acme Dental"})
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


def test_a_duplicate_short_code_that_slips_past_the_check_is_refused_with_21422_not_500(client, monkeypatch):
    """Were the registry's check skipped (two processes racing), the UNIQUE constraint's error is still a 400."""

    def unchecked(session: Session, sender: Sender) -> None:
        session.add(sender)

    monkeypatch.setattr(gateway.api.services, "add_sender", unchecked)
    first, second = new_service(client), new_service(client)
    assert (
        client.post(f"/v1/Services/{first}/ShortCodes", data={"ShortCode": "12345", "CountryCode": "US"}).status_code
        == 201
    )
    again = client.post(f"/v1/Services/{second}/ShortCodes", data={"ShortCode": "12345", "CountryCode": "US"})
    assert (again.status_code, again.json()["code"]) == (400, 21422)
    assert client.get(f"/v1/Services/{second}/ShortCodes").json()["short_codes"] == []
