"""Every operation in openapi.yaml, fuzzed by schemathesis against the app: no 5xx, no off-spec response."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from gateway.app import create_app
from gateway.settings import Settings
from gateway.store.db import migrate
from tests.conftest import ROOT

_DIRECTORY = Path(tempfile.mkdtemp(prefix="gateway-openapi-"))
_URL = f"sqlite:///{_DIRECTORY / 'gateway.db'}"
migrate(_URL)
app = create_app(Settings(database_url=_URL, policies_dir=ROOT / "policies", locales_dir=ROOT / "locales"))
app.state.policy.reload()  # what the lifespan does; schemathesis calls the app without running it

schema = schemathesis.openapi.from_asgi("/openapi.yaml", app)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_openapi(case):
    case.call_and_validate()
