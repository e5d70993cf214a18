"""A policy that refuses instead of holding or warning: quiet hours `outside = "refuse"` and
`unregistered_alpha = "refuse"`, end to end (the 4xx, nothing stored, and routing around the alpha)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import GB_MOBILE, ROOT
from tests.flows.test_outbound import NYC_SENDER, make_service, received_by
from tests.flows.test_quiet_hours import BODY, MANHATTAN, alpha_service, local, send
from tests.poll import wait_until

UK_SENDER = "+447400123456"


@pytest.fixture
def gateway_overrides(tmp_path: Path) -> dict[str, Path]:
    """The shipped policy, with US quiet hours refusing and GB refusing unregistered alpha senders."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    us = policies / "countries" / "US.toml"
    us.write_text(us.read_text("utf-8").replace('outside = "hold"', 'outside = "refuse"'), "utf-8")
    gb = policies / "countries" / "GB.toml"
    gb.write_text(
        gb.read_text("utf-8").replace(
            'alpha_sender = "registration_required"',
            'alpha_sender = "registration_required"\nunregistered_alpha = "refuse"',
        ),
        "utf-8",
    )
    return {"policies_dir": policies}


def test_marketing_outside_the_window_is_refused_with_30004_and_stores_nothing(clock, stack):
    clock.set(local("2026-12-01 21:30", "America/New_York"))
    service = make_service(stack, NYC_SENDER)
    response = send(stack, To=MANHATTAN, MessagingServiceSid=service.sid, Body=BODY, TrafficType="marketing")
    assert response.status_code == 400
    error = response.json()
    assert (error["code"], error["status"], error["more_info"]) == (
        30004,
        400,
        "https://www.twilio.com/docs/errors/30004",
    )
    assert error["message"].startswith(
        f"Marketing messages to {MANHATTAN} may not be sent now: 2026-12-01 21:30 "
        "America/New_York (Tue) is outside the send window US: Mon-Sun 08:00-21:00"
    )
    assert error["message"].endswith("; it opens at 2026-12-02T13:00:00Z.")
    assert stack.client().messages.list() == []


def test_an_unregistered_alpha_from_to_the_uk_is_refused_with_30018(stack):
    alpha_service(stack)
    response = send(stack, To=GB_MOBILE, From="ACME", Body="Your code is 123456")
    assert response.status_code == 400 and response.json()["code"] == 30018
    assert stack.client().messages.list() == []


def test_routing_passes_over_an_unregistered_alpha_where_it_would_be_refused(stack):
    """The pool's UK number carries the message instead of ACME, which GB would refuse."""
    service, _ = alpha_service(stack)
    registered = stack.client().incoming_phone_numbers.create(phone_number=UK_SENDER)
    stack.client().messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=registered.sid)
    response = send(stack, To=GB_MOBILE, MessagingServiceSid=service.sid, Body="Your code is 123456")
    assert response.status_code == 201, response.text
    [sent] = wait_until(lambda: received_by(stack, GB_MOBILE))
    assert sent.sender == UK_SENDER


def test_an_alpha_from_to_the_us_is_refused_with_21612(stack):
    alpha_service(stack)
    response = send(stack, To=MANHATTAN, From="ACME", Body="Your code is 123456")
    assert response.status_code == 400 and response.json()["code"] == 21612
    assert stack.client().messages.list() == []
