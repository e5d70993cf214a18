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
    ensure_resource_availability,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    use_after_free,
)
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from gateway.accounts import Accounts
from gateway.app import create_app, routes
from gateway.settings import Settings
from gateway.store.db import migrate
from tests.conftest import CA_MOBILE, FR_MOBILE, GB_MOBILE, ROOT, US_MOBILE

MIN_REQUESTS = 5000
_DIRECTORY = Path(tempfile.mkdtemp(prefix="gateway-openapi-"))
_URL = f"sqlite:///{_DIRECTORY / 'gateway.db'}"
migrate(_URL)
app = create_app(Settings(database_url=_URL, policies_dir=ROOT / "policies", locales_dir=ROOT / "locales",
                          workers=False, simulator=False))
_lifespan = TestClient(app)
_lifespan.__enter__()  # starts the writer and loads the policy; the process exit ends it
account = Accounts(app.state.engine).create("schemathesis")
AUTH = "Basic " + base64.b64encode(f"{account.sid}:{account.auth_token}".encode()).decode()

schema = schemathesis.openapi.from_asgi("/openapi.yaml", app)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
STATEFUL_CHECKS = [*CHECKS, use_after_free, ensure_resource_availability]
#: Real recipients in countries the shipped policy routes to (short codes of US/CA, alpha in FR/GB).
RECIPIENTS = (US_MOBILE, CA_MOBILE, GB_MOBILE, FR_MOBILE)
sent: dict[str, int] = {"requests": 0}


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """A send's `To` is half the time a real mobile number, so sends get past the gate and are stored
    (a random string is a 21211 before anything else is looked at)."""
    if context.operation is None or context.operation.label != "POST /2010-04-01/Accounts/{AccountSid}/Messages.json":
        return st.just(body)
    if not isinstance(body, dict):
        return st.just(body)
    return st.one_of(st.just(body), st.sampled_from(RECIPIENTS).map(lambda to: {**body, "To": to}))


def _as_account(case: Any) -> None:
    """The account's own sid in the path: another AccountSid is a 404 the isolation tests cover."""
    if case.path_parameters and "AccountSid" in case.path_parameters:
        case.path_parameters["AccountSid"] = account.sid


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_openapi(case: Any) -> None:
    _as_account(case)
    sent["requests"] += 1
    case.call_and_validate(headers={"Authorization": AUTH}, checks=CHECKS)


class LinkedWorkflows(schema.as_state_machine()):  # type: ignore[misc]
    """Sequences of operations along openapi.yaml's links, as the account."""

    def before_call(self, case: Any) -> None:
        _as_account(case)

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return {"headers": {"Authorization": AUTH}}

    def call(self, case: Any, **kwargs: Any) -> Any:
        sent["requests"] += 1
        return super().call(case, **kwargs)

    def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
        case.validate_response(response, checks=STATEFUL_CHECKS, transport_kwargs=kwargs or None,
                               recorder=self.recorder)


TestLinkedWorkflows = LinkedWorkflows.TestCase
TestLinkedWorkflows.settings = settings(max_examples=250, stateful_step_count=10, deadline=None,
                                        suppress_health_check=list(HealthCheck))


def test_the_fuzzing_sent_at_least_5000_requests(request: pytest.FixtureRequest) -> None:
    """The runs above sent at least MIN_REQUESTS requests (runs after them: same module, file order)."""
    fuzzing = [item for item in request.session.items
               if item.module is request.module and item.name != request.node.name and "every_route" not in item.name]
    if len(fuzzing) < 2:
        pytest.skip("the fuzzing tests of this module were not selected")
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
