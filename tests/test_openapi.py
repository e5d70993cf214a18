"""Every operation in openapi.yaml, fuzzed by schemathesis against the app: no 5xx, no off-spec response.

Two kinds of run share one app and one account:

- one test per operation, each request generated from that operation's schema alone (valid and
  invalid data, schemathesis's positive and negative modes);
- a state machine that follows the `links` of openapi.yaml (create a service → add a short code or
  alpha sender → send through it → fetch the message, opt its recipient out, …), so operations are
  also reached with sids that exist, and a deleted resource must then be gone.

Requests carry the account's credentials, and its AccountSid in the path, so the fuzzing reaches
the handlers instead of stopping at 401 or 404.  The app runs without workers (nothing is
dispatched); every write still goes through the writer.  Every request is counted; each fuzzing
test adds its count to a tally of the test session (one file for all its xdist processes, which
may split this module between them), and the last test asserts that the tally reaches
`MIN_REQUESTS` once every fuzzing test of the session has added to it.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)
from sqlmodel import Session, SQLModel
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from gateway.app import create_app, routes
from gateway.dates import utcnow
from gateway.settings import Settings
from gateway.store.db import migrate
from gateway.store.tables import Sender, Service
from tests.conftest import CA_MOBILE, FR_MOBILE, GB_MOBILE, ROOT, US_MOBILE
from tests.flows.provider_standins import TelnyxKeys
from tests.poll import wait_until

MIN_REQUESTS = 5000
#: Seconds the count waits for fuzzing tests that other test processes are still running.
TALLY_WAIT = 900.0
_DIRECTORY = Path(tempfile.mkdtemp(prefix="gateway-openapi-"))
_URL = f"sqlite:///{_DIRECTORY / 'gateway.db'}"
migrate(_URL)
#: Every provider has credentials and a webhook secret, so a sender of any of them can be registered
#: and the gateway stays ready (nothing is sent: no workers).
app = create_app(
    Settings(
        database_url=_URL,
        policies_dir=ROOT / "policies",
        locales_dir=ROOT / "locales",
        workers=False,
        simulator=False,
        simulator_token="token",
        simulator_url="http://127.0.0.1:9/sim",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
        telnyx_api_key="KEY",
        telnyx_public_key=TelnyxKeys().public_base64,
        vonage_api_key="key",
        vonage_api_secret="secret",
        vonage_signature_secret="secret",
        plivo_auth_id="MA",
        plivo_auth_token="token",
    )
)
_lifespan = TestClient(app)
_lifespan.__enter__()  # starts the writer and loads the policy; the process exit ends it
account = app.state.accounts.create("schemathesis")
AUTH = "Basic " + base64.b64encode(f"{account.sid}:{account.auth_token}".encode()).decode()

schema = schemathesis.openapi.from_asgi("/openapi.yaml", app)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def deleted_resources_are_gone(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis's use_after_free, except for opt-outs: `DELETE /v1/OptOuts/{PhoneNumber}` opts the number
    back in, and its record (state `opted_in`, with the audit trail) stays readable, as documented."""
    if case.operation.path.startswith("/v1/OptOuts/"):
        return None
    result: bool | None = use_after_free(ctx, response, case)
    return result


STATEFUL_CHECKS = [*CHECKS, deleted_resources_are_gone]
#: Real values for the fields that a random string almost never gets right, sent half the time instead
#: of the generated body, so requests get past the first check and are stored: recipients in countries
#: the shipped policy routes to, a service that can reach them, numbers to send from, and short codes.
US_NUMBER, GB_NUMBER = "+12025550142", "+441212345678"
STANDING_SERVICE = "MG" + "5" * 32  # a service that can reach them, made by `_start_afresh`
REALISTIC = {
    "POST /2010-04-01/Accounts/{AccountSid}/Messages.json": {
        "MessagingServiceSid": (STANDING_SERVICE,),
        "To": (US_MOBILE, CA_MOBILE, GB_MOBILE, FR_MOBILE),
        "Body": ("See you Tuesday", "Rendez-vous mardi à 9 h"),
        "MediaUrl": (None, ["https://demo.example/map.png"]),
    },
    "POST /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json": {"PhoneNumber": (US_NUMBER, GB_NUMBER)},
    "POST /v1/OptOuts": {"PhoneNumber": (US_MOBILE, GB_MOBILE, f"whatsapp:{FR_MOBILE}"), "Reason": ("asked by phone",)},
    "POST /v1/Services/{Sid}/ShortCodes": {"ShortCode": ("12345", "24680"), "CountryCode": ("US", "CA")},
}
sent: dict[str, int] = {"requests": 0}


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """The generated body, or one of REALISTIC values alone (None: left out); a link adds its own
    fields to either (the service or the number to send from)."""
    fields = REALISTIC.get(context.operation.label) if context.operation is not None else None
    if not fields or not isinstance(body, dict):
        return st.just(body)
    realistic = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in fields.items()})
    return st.one_of(
        st.just(body),
        realistic.map(lambda values: {name: value for name, value in values.items() if value is not None}),
    )


def _as_account(case: Any) -> None:
    """The account's credentials, and its own sid in the path: another AccountSid is a 404 and bad
    credentials a 401, both covered by the isolation tests."""
    if case.path_parameters and "AccountSid" in case.path_parameters:
        case.path_parameters["AccountSid"] = account.sid
    case.headers = {**(case.headers or {}), "Authorization": AUTH}


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_openapi(case: Any) -> None:
    _as_account(case)
    sent["requests"] += 1
    case.call_and_validate(checks=CHECKS)


#: What a reset keeps: the account, and the records of the app itself.
_KEPT = {"account", "policy_revision", "generation", "alembic_version"}


def _start_afresh(session: Session) -> None:
    """Only the account, and its standing service: US and CA short codes and an alpha sender."""
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name not in _KEPT:
            session.execute(table.delete())
    now = utcnow()
    session.add(
        Service(
            sid=STANDING_SERVICE, account_sid=account.sid, friendly_name="Standing", date_created=now, date_updated=now
        )
    )
    session.flush()
    for number, (address, kind, country) in enumerate(
        (("10101", "short_code", "US"), ("20202", "short_code", "CA"), ("ACME", "alpha", None))
    ):
        session.add(
            Sender(
                sid=f"SC{number:032d}",
                account_sid=account.sid,
                address=address,
                kind=kind,
                country=country,
                provider="twilio",
                mps=100,
                service_sid=STANDING_SERVICE,
                date_created=now,
                date_updated=now,
            )
        )
    app.state.core.changed(session)  # routing's caches and the queue counts follow
    app.state.core.recount(session)


def start_afresh() -> None:
    """Between requests, so no writer job runs (schemathesis's ASGI transport runs the app's lifespan
    around each call, so the writer is not a place to queue this)."""
    with Session(app.state.engine) as session:
        _start_afresh(session)
        session.commit()


start_afresh()


class LinkedWorkflows(schema.as_state_machine()):  # type: ignore[misc]
    """Sequences of operations along openapi.yaml's links, as the account.

    Each scenario starts from an empty account: Hypothesis requires a scenario's steps to depend
    only on its own draws, and a short code or opt-out left by an earlier scenario would change
    the answers (21422, 404) it gets."""

    def setup(self) -> None:
        start_afresh()

    def before_call(self, case: Any) -> None:
        _as_account(case)

    def call(self, case: Any, **kwargs: Any) -> Any:
        sent["requests"] += 1
        return super().call(case, **kwargs)

    def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
        case.validate_response(
            response, checks=STATEFUL_CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder
        )


TestLinkedWorkflows = LinkedWorkflows.TestCase
TestLinkedWorkflows.settings = settings(
    max_examples=300, stateful_step_count=12, deadline=None, suppress_health_check=list(HealthCheck)
)


def _fuzzing(item: pytest.Item) -> bool:
    return getattr(item, "originalname", None) == "test_api_conforms_to_openapi" or (
        getattr(item, "cls", None) is TestLinkedWorkflows
    )


def _tally(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tally file: xdist gives each worker a base temp folder inside the session's."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "schemathesis-requests"


@pytest.fixture(autouse=True)
def _counted(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A fuzzing test's requests, added to the session's tally when it ends (failed too): one line,
    `<test name> <requests>`, appended whole.  (The name, as the node id of each operation's test is
    the same.)"""
    if not _fuzzing(request.node):
        yield
        return
    before = sent["requests"]
    try:
        yield
    finally:
        with _tally(tmp_path_factory).open("a") as tally:
            tally.write(f"{request.node.name} {sent['requests'] - before}\n")


def test_the_fuzzing_sent_at_least_5000_requests(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The fuzzing runs of the session sent at least MIN_REQUESTS requests between them, in whichever
    test processes they ran (it waits for those still running elsewhere)."""
    selected = [item for item in request.session.items if _fuzzing(item)]
    if {getattr(item, "cls", None) is TestLinkedWorkflows for item in selected} != {True, False}:
        pytest.skip("the fuzzing runs of this module were not selected")
    fuzzing = {item.name for item in selected}
    tally = _tally(tmp_path_factory)

    def counts() -> dict[str, int]:
        lines = tally.read_text().splitlines() if tally.exists() else []
        return {name: int(requests) for name, requests in (line.rsplit(" ", 1) for line in lines)}

    wait_until(
        lambda: fuzzing <= counts().keys(),
        timeout=TALLY_WAIT,
        message=lambda: f"fuzzing tests that never added to the tally: {sorted(fuzzing - counts().keys())}",
    )
    total = sum(counts().values())
    print(f"schemathesis sent {total} requests")
    assert total >= MIN_REQUESTS


def test_every_route_is_described_in_openapi() -> None:
    """openapi.yaml lists each route the app serves, with its methods; the console's HTML pages
    (README, "Compliance console") are not an API and are not in it."""
    described = {
        path: {m.upper() for m in item if m != "parameters"}
        for path, item in yaml.safe_load((ROOT / "openapi.yaml").read_text())["paths"].items()
    }
    normalized = {re.sub(r"\{[^}]+\}", "{}", path): methods for path, methods in described.items()}
    for route in routes():
        if isinstance(route, Mount) or route.path == "/console":
            continue
        assert isinstance(route, Route)
        path = re.sub(r"\{[^}]+\}", "{}", route.path)
        assert path in normalized, route.path
        assert set(route.methods or ()) - {"HEAD"} <= normalized[path], route.path
