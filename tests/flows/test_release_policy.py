"""Held messages judged at release by the policy in force, not the one they were accepted under.

Each test copies the shipped policy files, holds a French marketing message overnight (23:00 in
Paris, outside FR's Mon-Sat 08:00-22:00), edits the copy while the message waits, lets the
running gateway load the new revision, and then moves the clock to the morning.

The copy's global.toml says alphanumeric senders may reach no country (`alpha_sender =
"not_supported"`) unless its country file says otherwise, as FR.toml does: a deployment that
lists the countries its alpha senders may reach.  Removing FR.toml from the policy makes France
such a country no more.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.dates import Clock
from tests.conftest import FR_MOBILE, ROOT
from tests.flows.test_outbound import make_service, received_by
from tests.flows.test_quiet_hours import BODY, local, reasons, send, stored
from tests.poll import wait_until

EVENING_IN_PARIS = "2026-12-01 23:00"  # a Tuesday


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", copy)
    world = copy / "global.toml"
    world.write_text(world.read_text().replace("alpha_sender = true", 'alpha_sender = "not_supported"', 1))
    return copy


@pytest.fixture
def gateway_overrides(policies: Path) -> dict[str, object]:
    return {"policies_dir": policies, "policy_reload_interval": 0.1}


def revision(stack) -> str:  # type: ignore[no-untyped-def]
    return str(httpx.get(f"{stack.url}/readyz").json()["policy"]["revision"])


def edit(stack, change) -> None:  # type: ignore[no-untyped-def]
    """Change the policy files and wait until the gateway serves the new revision."""
    before = revision(stack)
    change()
    wait_until(lambda: revision(stack) != before, timeout=10)


def held_overnight(clock: Clock, stack) -> str:  # type: ignore[no-untyped-def]
    """A marketing message to a French mobile from ACME (registered for FR) at 23:00 in Paris: held to 08:00."""
    clock.set(local(EVENING_IN_PARIS, "Europe/Paris"))
    service = make_service(stack, status_callback=stack.app.url("/status"))
    created = httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/AlphaSenders",
        data={"AlphaSender": "ACME", "RegisteredCountries": "FR"},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert created.status_code == 201, created.text
    response = send(stack, To=FR_MOBILE, MessagingServiceSid=service.sid, Body=BODY, TrafficType="marketing")
    assert response.status_code == 201, response.text
    sid = str(response.json()["sid"])
    assert stored(stack, sid).send_at == local("2026-12-02 08:00", "Europe/Paris")
    return sid


def callbacks(stack, sid: str) -> list[tuple[str | None, str | None]]:  # type: ignore[no-untyped-def]
    return [
        (r.field("MessageStatus"), r.field("ErrorCode"))
        for r in stack.app.received
        if r.path == "/status" and r.field("MessageSid") == sid
    ]


def releases(stack, sid: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return list(reasons(stack, sid).get("releases", []))


def test_a_message_held_overnight_is_refused_at_release_when_its_country_left_the_policy(clock, stack, policies):
    """FR.toml removed while the message waits: at 08:00 the sender-ID gate of the revision in force refuses
    ACME for France (21612, as a send now would be), the message fails with a `failed` callback and is never
    sent, and its reasons keep both decisions: held by FR's window, then refused by the new revision."""
    sid = held_overnight(clock, stack)
    accepted_under = revision(stack)
    edit(stack, (policies / "countries" / "FR.toml").unlink)

    clock.set(local("2026-12-02 08:00", "Europe/Paris"))
    wait_until(lambda: ("failed", "21612") in callbacks(stack, sid), timeout=20, message=lambda: callbacks(stack, sid))
    row = stored(stack, sid)
    assert (row.status, row.error_code) == ("failed", 21612)
    explanation = reasons(stack, sid)
    assert (explanation["policy_revision"], explanation["outcome"]["action"]) == (accepted_under, "hold")
    [release] = explanation["releases"]
    assert release["policy_revision"] == revision(stack) != accepted_under
    assert (release["outcome"]["action"], release["outcome"]["code"], release["outcome"]["gate"]) == (
        "refuse",
        21612,
        "sender_id",
    )
    assert received_by(stack, FR_MOBILE) == []


def test_a_message_held_overnight_waits_longer_when_the_window_narrows_meanwhile(clock, stack, policies):
    """FR's window narrowed to 09:00 while the message waits: at 08:00 it is held again until 09:00 (the reasons
    say so, naming the new rule), and at 09:00 it goes."""
    sid = held_overnight(clock, stack)
    france = policies / "countries" / "FR.toml"
    edit(stack, lambda: france.write_text(france.read_text().replace('"Mon-Sat 08:00-22:00"', '"Mon-Sat 09:00-22:00"')))

    clock.set(local("2026-12-02 08:00", "Europe/Paris"))
    wait_until(lambda: releases(stack, sid), timeout=20)
    row = stored(stack, sid)
    assert (row.status, row.send_at) == ("scheduled", local("2026-12-02 09:00", "Europe/Paris"))
    assert row.hold_reason.startswith("countries/FR.toml:")
    [release] = releases(stack, sid)
    assert (release["outcome"]["action"], release["outcome"]["gate"]) == ("hold", "quiet_hours")

    clock.set(local("2026-12-02 09:00", "Europe/Paris"))
    [sent] = wait_until(lambda: received_by(stack, FR_MOBILE), timeout=20)
    assert sent.sender == "ACME"
    assert [r["outcome"]["action"] for r in releases(stack, sid)] == ["hold", "send"]
