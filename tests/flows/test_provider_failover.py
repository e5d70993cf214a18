"""Failover: one service pool with a Plivo and a Telnyx number; the stand-in Plivo answers 503 for a
while. New sends go to Telnyx, nothing is lost, and Plivo takes traffic again once it recovers."""

from __future__ import annotations

import httpx
import pytest

from tests.flows.provider_standins import (
    TelnyxKeys,
    plivo_post,
    service_with,
    settings_for,
    standin,
    stored_inbound,
)
from tests.poll import wait_until

PLIVO_NUMBER = "+12015550124"
TELNYX_NUMBER = "+12125550100"  # both US long codes: one tier for a French recipient (US fallback)
PEOPLE = [f"+3361234{i:04d}" for i in range(12)]


@pytest.fixture
def plivo():  # type: ignore[no-untyped-def]
    with standin("plivo") as state:
        yield state


@pytest.fixture
def telnyx():  # type: ignore[no-untyped-def]
    with standin("telnyx") as state:
        yield state


@pytest.fixture
def gateway_overrides(plivo, telnyx):  # type: ignore[no-untyped-def]
    return (
        settings_for("plivo", plivo.base)
        | settings_for("telnyx", telnyx.base, TelnyxKeys())
        | {"provider_failure_window": 0.5, "provider_probe_interval": 0.5}
    )


@pytest.fixture
def service(stack):  # type: ignore[no-untyped-def]
    return service_with(stack, (PLIVO_NUMBER, "plivo"), (TELNYX_NUMBER, "telnyx"))


def send(stack, service, people: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    client = stack.client()
    return [
        client.messages.create(messaging_service_sid=service.sid, to=person, body="Rappel : mardi 9h").sid
        for person in people
    ]


def reached(standin_state, people: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    return [person for person in people if standin_state.to(person)]


def test_sends_fail_over_to_the_healthy_provider_and_come_back_after_recovery(stack, plivo, telnyx, service):
    """503s from Plivo for longer than the window mark it unhealthy (/readyz says since when); new sends
    go to the Telnyx number of the same tier; Plivo's queued messages wait and are delivered once it
    answers again; new recipients then get the Plivo number again."""
    health = stack.app_state.core.health
    plivo.down = True
    first = send(stack, service, PEOPLE[:4])  # spread over both numbers: Plivo's fail and are retried
    wait_until(lambda: "plivo" in health.unhealthy(), timeout=15)
    ready = httpx.get(f"{stack.url}/readyz").json()
    assert ready["providers"]["plivo"]["state"] in ("unhealthy", "probing") and ready["providers"]["plivo"]["since"]
    assert ready["providers"]["telnyx"]["state"] == "healthy"

    send(stack, service, PEOPLE[4:8])
    assert wait_until(lambda: reached(telnyx, PEOPLE[4:8]) == PEOPLE[4:8])
    assert [s.to for s in telnyx.sent if s.to in PEOPLE[4:8]] and not reached(plivo, PEOPLE[4:8])

    plivo.down = False
    wait_until(lambda: not health.unhealthy(), timeout=15)
    everyone = PEOPLE[:8]
    assert wait_until(
        lambda: sorted(reached(plivo, everyone) + reached(telnyx, everyone)) == sorted(everyone), timeout=20
    )
    assert all(stack.client().messages(sid).fetch().status == "sent" for sid in first)
    assert reached(plivo, PEOPLE[:4]), "some of the first messages waited on the Plivo number and went out there"

    send(stack, service, PEOPLE[8:12])
    assert wait_until(lambda: reached(plivo, PEOPLE[8:12]))


def test_a_plivo_signed_inbound_to_the_telnyx_number_is_refused_with_20403(stack, plivo, telnyx, service):
    """Plivo's secret vouches only for Plivo's numbers: 403, nothing stored, nothing forwarded."""
    params = {
        "From": "33612345678",
        "To": TELNYX_NUMBER.lstrip("+"),
        "Text": "STOP",
        "Type": "sms",
        "MessageUUID": "3c4e9f4a-6c1b-11ef-9a2b-0242ac110002",
        "MediaCount": "0",
    }
    response = plivo_post(f"{stack.settings.public_url}/webhooks/plivo/inbound", params)
    assert (response.status_code, response.json()["code"]) == (403, 20403)
    assert stored_inbound(stack) == 0 and not [r for r in stack.app.received if r.path == "/inbound"]
