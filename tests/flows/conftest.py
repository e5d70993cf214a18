"""A whole gateway under uvicorn, with a stand-in Twilio (the simulator) and a stand-in app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from gateway.app import create_app
from gateway.providers.simulator import Simulator, SimulatorConfig, create_simulator
from gateway.settings import Settings
from gateway.store.db import make_engine, migrate
from tests.conftest import ROOT, SECRET_KEY
from tests.flows.server import free_port, serve
from tests.flows.standins import AppServer, app_server

PROVIDER_TOKEN = "provider-secret-token"
METRICS_TOKEN = "metrics-scraper-token"
STANDINS = "127.0.0.0/8"
NO_SHORT_CODES = "+1312555014"  # the stand-in Twilio refuses sends from short codes to these (21612)
SHORT_CODE_UNREACHABLE = "+1312555015"  # sends to these are reported undelivered (30006) after `sent`  # the stand-in apps' network, which the callback policy refuses by default


@dataclass
class Stack:
    url: str
    settings: Settings
    provider: Simulator
    app: AppServer
    account_sid: str
    auth_token: str
    app_state: Any = None  # the gateway's app.state, for tests that tune a worker
    _engine: Any = None
    _start: Callable[[Settings], Any] | None = None
    _stop: Callable[[], None] | None = None

    def restart(self, **changes: Any) -> None:
        """Stop the gateway (as a redeploy does: in-flight work finishes, leases go back) and start
        a new one on the same database and port, with the same settings but for `changes` (an
        operator's edit between deploys, such as a secret removed)."""
        assert self._start is not None
        self.settings = self.settings.with_(**changes)
        self.app_state = self._start(self.settings)

    def stop(self) -> None:
        """Stop the gateway as a redeploy does, without starting another (for what shutdown does)."""
        assert self._stop is not None
        self._stop()

    def engine(self) -> Any:
        """An engine on the gateway's database, for tests that look inside; disposed with the stack."""
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def client(self, token: str | None = None) -> Client:
        """The official twilio SDK pointed at the gateway (its only change: base URLs)."""
        http = TwilioHttpClient(timeout=10)
        http.session.trust_env = False
        client = Client(self.account_sid, token or self.auth_token, http_client=http, environment={"X": "1"})
        client.edge = client.region = None
        client.api.base_url = self.url
        client.messaging.base_url = self.url
        return client


@pytest.fixture
def stack(request: pytest.FixtureRequest, database_url: str) -> Iterator[Stack]:
    simulator = create_simulator(
        SimulatorConfig(
            auth_token=PROVIDER_TOKEN,
            delay=0.05,
            failures={"+447400999": 30003, "+336991": 21614, SHORT_CODE_UNREACHABLE: 30006},
            no_short_codes=(NO_SHORT_CODES,),
        )
    )
    with serve(simulator) as provider_url, app_server() as app:
        url = database_url
        migrate(url)
        port = free_port()
        settings = Settings(
            database_url=url,
            policies_dir=ROOT / "policies",
            locales_dir=ROOT / "locales",
            port=port,
            public_url=f"http://127.0.0.1:{port}",
            default_provider="twilio",
            simulator=False,
            secret_key=SECRET_KEY,
            twilio_account_sid="AC" + "1" * 32,
            twilio_auth_token=PROVIDER_TOKEN,
            twilio_base_url=provider_url,
            metrics_token=METRICS_TOKEN,
            callback_allow_networks=STANDINS,
        )
        marker = request.node.get_closest_marker("gateway")
        if marker is not None:
            settings = settings.with_(**marker.kwargs)
        try:  # a module's `gateway_overrides` fixture: settings known only at run time (stand-ins' URLs)
            overrides = request.getfixturevalue("gateway_overrides")
        except pytest.FixtureLookupError:
            overrides = {}
        settings = settings.with_(**overrides)
        with ExitStack() as running:

            def start(settings: Settings) -> Any:
                """(Re)start the gateway: the one running stops first."""
                running.close()
                gateway = create_app(settings)
                running.enter_context(serve(gateway, port=port))
                return gateway.state

            state = start(settings)
            account = state.accounts.create("tests")
            stack = Stack(
                f"http://127.0.0.1:{port}",
                settings,
                simulator.state.sim,
                app,
                account.sid,
                account.auth_token,
                state,
                _start=start,
                _stop=running.close,
            )
            yield stack
            if stack._engine is not None:
                stack._engine.dispose()
