"""Every operation in openapi.yaml, fuzzed by schemathesis against the app: no 5xx, no off-spec response.

Requests carry a real account's credentials and its AccountSid, so the fuzzing
reaches the handlers instead of stopping at 401.  The app runs without workers
(nothing is dispatched); every write still goes through the writer.
"""

from __future__ import annotations

import base64
import re
import tempfile
from pathlib import Path

import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from gateway.accounts import Accounts
from gateway.app import create_app, routes
from gateway.settings import Settings
from gateway.store.db import migrate
from tests.conftest import ROOT

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


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_openapi(case):
    if case.path_parameters and "AccountSid" in case.path_parameters:
        case.path_parameters["AccountSid"] = account.sid
    case.call_and_validate(headers={"Authorization": AUTH}, checks=CHECKS)


def test_every_route_is_described_in_openapi():
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
