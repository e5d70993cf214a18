"""Every operation in openapi.yaml, fuzzed by schemathesis against the app: no 5xx, no off-spec response.

Two kinds of run share one app and one account:

- one test per operation, each request generated from that operation's schema alone (valid and
  invalid data, schemathesis's positive and negative modes);
- a state machine that follows the `links` of openapi.yaml (create a service → add a short code or
  alpha sender → send through it → fetch the message, opt its recipient out, …), so operations are
  also reached with sids that exist, and a deleted resource must then be gone.

Requests carry the account's credentials, and its AccountSid in the path, so the fuzzing reaches
the handlers instead of stopping at 401 or 404.  The app runs without workers (nothing is
dispatched); every write still goes through the writer.  Every request is counted and the last
test asserts that the run sent at least `MIN_REQUESTS`.
"""

from __future__ import annotations

import base64
import re
import tempfile
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
from gateway.settings import Settings
from gateway.store.db import migrate
from tests.conftest import CA_MOBILE, FR_MOBILE, GB_MOBILE, ROOT, US_MOBILE

MIN_REQUESTS = 5000
_DIRECTORY = Path(tempfile.mkdtemp(prefix="gateway-openapi-"))
_URL = f"sqlite:///{_DIRECTORY / 'gateway.db'}"
migrate(_URL)
#: Every provider has credentials, so a sender of any of them can be registered (nothing is sent: no workers).
app = create_app(Settings(database_url=_URL, policies_dir=ROOT / "policies", locales_dir=ROOT / "locales",
                          workers=False, simulator=False, telnyx_api_key="KEY", vonage_api_key="key",
                          vonage_api_secret="secret", plivo_auth_id="MA", plivo_auth_token="token"))
_lifespan = TestClient(app)
_lifespan.__enter__()  # starts the writer and loads the policy; the process exit ends it
account = app.state.accounts.create("schemathesis")
AUTH = "Basic " + base64.b64encode(f"{account.sid}:{account.auth_token}".encode()).decode()

schema = schemathesis.openapi.from_asgi("/openapi.yaml", app)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
STATEFUL_CHECKS = [*CHECKS, use_after_free]  # a deleted resource is gone
#: Real values for the fields that a random string almost never gets right, drawn half the time, so
#: requests get past the first check and are stored: recipients in countries the shipped policy routes
#: to, numbers to send from, and short codes of the recipients' countries.
US_NUMBER, GB_NUMBER = "+12025550142", "+441212345678"
REALISTIC = {
    "POST /2010-04-01/Accounts/{AccountSid}/Messages.json": {"To": (US_MOBILE, CA_MOBILE, GB_MOBILE, FR_MOBILE),
                                                             "Body": ("See you Tuesday", "Rendez-vous mardi à 9 h"),
                                                             "MediaUrl": ([], ["https://demo.example/map.png"])},
    "POST /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json": {"PhoneNumber": (US_NUMBER, GB_NUMBER)},
    "POST /v1/OptOuts": {"PhoneNumber": (US_MOBILE, GB_MOBILE, f"whatsapp:{FR_MOBILE}")},
    "POST /v1/Services/{Sid}/ShortCodes": {"CountryCode": ("US", "CA")},
}
sent: dict[str, int] = {"requests": 0}


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """The generated body, or the same body with REALISTIC values for its operation."""
    fields = REALISTIC.get(context.operation.label) if context.operation is not None else None
    if not fields or not isinstance(body, dict):
        return st.just(body)
    realistic = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in fields.items()})
    return st.one_of(st.just(body), realistic.map(lambda values: {**body, **values}))


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


#: What a scenario's reset keeps: the account, and the records of the app itself.
_KEPT = {"account", "policy_revision", "generation", "alembic_version"}


def _forget_everything_but_the_account(session: Session) -> None:
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name not in _KEPT:
            session.execute(table.delete())
    app.state.core.changed(session)  # routing's caches and the queue counts follow
    app.state.core.recount(session)


class LinkedWorkflows(schema.as_state_machine()):  # type: ignore[misc]
    """Sequences of operations along openapi.yaml's links, as the account.

    Each scenario starts from an empty account: Hypothesis requires a scenario's steps to depend
    only on its own draws, and a short code or opt-out left by an earlier scenario would change
    the answers (21422, 404) it gets."""

    def setup(self) -> None:
        _lifespan.portal.call(app.state.writer.run, _forget_everything_but_the_account)

    def before_call(self, case: Any) -> None:
        _as_account(case)

    def call(self, case: Any, **kwargs: Any) -> Any:
        sent["requests"] += 1
        return super().call(case, **kwargs)

    def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
        case.validate_response(response, checks=STATEFUL_CHECKS, transport_kwargs=kwargs or None,
                               recorder=self.recorder)


TestLinkedWorkflows = LinkedWorkflows.TestCase
TestLinkedWorkflows.settings = settings(max_examples=300, stateful_step_count=12, deadline=None,
                                        suppress_health_check=list(HealthCheck))


def test_the_fuzzing_sent_at_least_5000_requests(request: pytest.FixtureRequest) -> None:
    """The runs above sent at least MIN_REQUESTS requests (it runs after them: same module, file order)."""
    selected = request.session.items
    if not (any(getattr(item, "originalname", None) == "test_api_conforms_to_openapi" for item in selected)
            and any(getattr(item, "cls", None) is TestLinkedWorkflows for item in selected)):
        pytest.skip("the fuzzing runs of this module were not selected")
    print(f"schemathesis sent {sent['requests']} requests")
    assert sent["requests"] >= MIN_REQUESTS


def test_every_route_is_described_in_openapi() -> None:
    """openapi.yaml lists each route the app serves, with its methods."""
    described = {path: {m.upper() for m in item if m != "parameters"}
                 for path, item in yaml.safe_load((ROOT / "openapi.yaml").read_text())["paths"].items()}
    normalized = {re.sub(r"\{[^}]+\}", "{}", path): methods for path, methods in described.items()}
    for route in routes():
        if isinstance(route, Mount):
            continue
        assert isinstance(route, Route)
        path = re.sub(r"\{[^}]+\}", "{}", route.path)
        assert path in normalized, route.path
        assert set(route.methods or ()) - {"HEAD"} <= normalized[path], route.path
