"""A provider that cannot be reached (connections refused) until it comes back: messages wait, the
provider is reported unhealthy, and once it listens every message goes out once, within the MPS."""

from __future__ import annotations

import httpx
import pytest

from gateway.providers.simulator import SimulatorConfig, create_simulator
from tests.conftest import US_MOBILE
from tests.flows.conftest import PROVIDER_TOKEN
from tests.flows.server import free_port, serve
from tests.flows.test_outbound import US_SENDER, _register
from tests.flows.test_provider_faults import BODIES, MPS, most_in_one_second
from tests.poll import wait_until


@pytest.fixture
def unreachable_port() -> int:
    """Where the provider will listen once it is back; nothing listens there at first."""
    return free_port()


@pytest.fixture
def gateway_overrides(unreachable_port):  # type: ignore[no-untyped-def]
    return {
        "twilio_base_url": f"http://127.0.0.1:{unreachable_port}",
        "provider_failure_window": 1.0,
        "provider_probe_interval": 0.5,
    }


def test_messages_wait_while_the_provider_is_unreachable_and_go_out_once_after_it_is_back(stack, unreachable_port):
    """Connections refused: the messages stay queued and the provider is reported unhealthy; once it
    listens, every message is sent once, at most MPS in any second."""
    _register(stack, US_SENDER, mps=MPS)
    client = stack.client()
    sids = [client.messages.create(from_=US_SENDER, to=US_MOBILE, body=body).sid for body in BODIES]
    wait_until(lambda: httpx.get(f"{stack.url}/readyz").json()["providers"]["twilio"]["state"] != "healthy", 15)
    assert all(client.messages(sid).fetch().status in ("queued", "sending") for sid in sids)
    provider = create_simulator(SimulatorConfig(auth_token=PROVIDER_TOKEN, delay=0.05))
    with serve(provider, port=unreachable_port):
        wait_until(lambda: all(client.messages(sid).fetch().status in ("sent", "delivered") for sid in sids), 30)
        sim = provider.state.sim
        assert sorted(r.body for r in sim.received) == sorted(BODIES)
        assert most_in_one_second([moment for sender, moment in sim.requests if sender == US_SENDER]) <= MPS
