"""The API's limits over HTTP: the per-account rate limit (429, Retry-After) and the request body limit (413)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings
from gateway.store.tables import Message, OptOut, Service
from tests.conftest import US_MOBILE

BURST = 3
RATE = 0.5  # one request back every two seconds: the burst is spent long before one returns


@pytest.fixture
def app(settings: Settings) -> Iterator[Starlette]:
    app = create_app(settings.with_(workers=False, api_rate_limit=RATE, api_rate_burst=BURST))
    with TestClient(app):
        yield app


def client_of(app: Starlette, name: str) -> TestClient:
    account = app.state.accounts.create(name)
    client = TestClient(app)
    client.auth = (account.sid, account.auth_token)
    return client


def create_service(client: TestClient) -> int:
    return client.post("/v1/Services", data={"FriendlyName": "Acme Dental"}).status_code


def services_stored(app: Starlette) -> int:
    return rows_in(app, Service)


def rows_in(app: Starlette, *tables: type) -> int:
    with Session(app.state.engine) as session:
        return sum(int(session.execute(select(func.count()).select_from(table)).scalar_one()) for table in tables)


def test_a_request_over_the_account_rate_limit_is_a_429_with_retry_after_in_twilio_shape(app):
    """Past its burst an account is answered 429 / 20429 with Retry-After, in Twilio's JSON error shape."""
    client = client_of(app, "busy")
    assert [create_service(client) for _ in range(BURST)] == [201] * BURST
    refused = client.post("/v1/Services", data={"FriendlyName": "Acme Dental"})
    assert refused.status_code == 429
    assert refused.json() == {
        "code": 20429,
        "message": refused.json()["message"],
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    assert refused.headers["Retry-After"] == "2"


def test_a_request_refused_by_the_rate_limit_stores_nothing(app):
    """The refused create leaves the services the accepted ones made, and no more."""
    client = client_of(app, "busy")
    answers = [create_service(client) for _ in range(BURST + 2)]
    assert answers == [201] * BURST + [429, 429]
    assert services_stored(app) == BURST


def test_one_account_over_its_limit_does_not_limit_another(app):
    """Each account has its own bucket: B's requests go through while A is refused."""
    first, second = client_of(app, "A"), client_of(app, "B")
    assert [create_service(first) for _ in range(BURST + 1)] == [201] * BURST + [429]
    assert [create_service(second) for _ in range(BURST)] == [201] * BURST


def test_an_account_refused_by_the_rate_limit_is_served_again_after_retry_after(app):
    """Waiting the seconds Retry-After gives is enough for the next request to be accepted."""
    client = client_of(app, "busy")
    for _ in range(BURST):
        create_service(client)
    refused = client.post("/v1/Services", data={"FriendlyName": "Acme Dental"})
    assert refused.status_code == 429
    time.sleep(float(refused.headers["Retry-After"]))
    assert create_service(client) == 201


def test_health_is_answered_to_a_caller_over_its_rate_limit(app):
    """/healthz and /readyz need no credentials and count against no account."""
    client = client_of(app, "busy")
    for _ in range(BURST + 1):
        create_service(client)
    assert (client.get("/healthz").status_code, client.get("/readyz").status_code) == (200, 200)


@pytest.mark.parametrize(
    "path", ["/2010-04-01/Accounts/{sid}/Messages.json", "/v1/Services", "/v1/OptOuts", "/v1/Policy/Test"]
)
def test_an_api_body_over_one_megabyte_is_a_413_and_stores_nothing(settings: Settings, path: str):
    """A declared body over the API's 1 MB limit is refused (413 / 21617) before it is read."""
    app = create_app(settings.with_(workers=False))
    with TestClient(app) as client:
        account = app.state.accounts.create("big")
        client.auth = (account.sid, account.auth_token)
        response = client.post(
            path.format(sid=account.sid), data={"To": US_MOBILE, "FriendlyName": "Acme", "Body": "x" * (1024 * 1024)}
        )
        assert (response.status_code, response.json()["code"]) == (413, 21617)
        assert rows_in(app, Service, Message, OptOut) == 0


def test_a_chunked_api_body_growing_over_the_limit_is_a_413(settings: Settings):
    """A body without Content-Length is cut off at 1 MB while streaming, not read whole."""
    app = create_app(settings.with_(workers=False))

    def chunks() -> Iterator[bytes]:
        yield b"FriendlyName=Acme&Body="
        for _ in range(2 * 1024):
            yield b"x" * 1024

    with TestClient(app) as client:
        account = app.state.accounts.create("big")
        client.auth = (account.sid, account.auth_token)
        response = client.post(
            "/v1/Services", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert (response.status_code, response.json()["code"]) == (413, 21617)
        assert services_stored(app) == 0


def test_while_the_rate_table_cannot_be_written_a_process_admits_its_part_of_the_limit_alone(settings):
    """One of three processes (burst 3): with its leases failing it answers the account's first request
    and refuses the next with 429, not 503 for all of them."""
    app = create_app(settings.with_(workers=False, api_rate_limit=RATE, api_rate_burst=BURST, api_processes=3))
    with TestClient(app):
        client = client_of(app, "busy")
        with app.state.engine.begin() as connection:
            connection.execute(text("DROP TABLE rate_budget"))
        answers = [client.get("/v1/Services").status_code for _ in range(3)]
    assert answers == [200, 429, 429]
