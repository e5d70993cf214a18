"""Explain end to end: `POST /v1/Messages/Explain` answers what the real send then does, names the
opt-out that refuses a send, writes nothing, and a sent message keeps the same reasons."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select
from sqlmodel import SQLModel

from tests.conftest import FR_MOBILE, US_MOBILE
from tests.flows.test_inbound import inbound
from tests.flows.test_outbound import NYC_SENDER, US_SENDER, make_service
from tests.poll import wait_until

BODY = "Your cleaning is Tuesday at 9:00. Reply STOP to opt out."
MANHATTAN = "+12125550123"  # area code 212: New York, no state window beyond the TCPA's


def explain(stack, **params: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{stack.url}/v1/Messages/Explain", data=params, auth=(stack.account_sid, stack.auth_token))


def stored(stack, sid: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.get(f"{stack.url}/v1/Messages/{sid}/Explain", auth=(stack.account_sid, stack.auth_token))


def decisions(explanation: dict[str, Any]) -> dict[str, Any]:
    """What must not drift between an explanation and the send: the route, every gate's verdict and
    source, the encoding and the outcome's action."""
    route = explanation["route"]
    return {
        "route": (route["sender"], route["sender_sid"], route["rule"], route["source"]),
        "gates": [(g["gate"], g["verdict"], g["source"], g["code"]) for g in explanation["gates"]],
        "encoding": explanation["encoding"],
        "action": explanation["outcome"]["action"],
    }


def row_counts(stack) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with stack.engine().connect() as connection:
        return {
            name: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in SQLModel.metadata.tables.items()
        }


def test_explain_then_send_agree_on_sender_rule_gates_and_segments(stack):
    """Explain picks the area-code sender the real send then uses, with the same verdicts and segments."""
    service = make_service(stack, NYC_SENDER, US_SENDER)
    body = BODY + " Café ☕ See you soon!"  # UCS-2, 2 segments: the encoding is part of the answer
    answer = explain(stack, To=US_MOBILE, MessagingServiceSid=service.sid, Body=body)
    assert answer.status_code == 200, answer.text
    before = answer.json()
    assert (before["route"]["sender"], before["route"]["rule"]) == (US_SENDER, "area_code")
    assert before["encoding"]["encoding"] == "UCS-2" and before["outcome"]["action"] == "send"

    message = stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body=body)
    after = stored(stack, message.sid)
    assert after.status_code == 200, after.text
    assert decisions(after.json()) == decisions(before)
    assert after.json()["encoding"]["segments"] == int(message.num_segments) == 2


def test_explain_then_a_marketing_send_at_night_agree_on_the_hold(clock, stack):
    """At 21:30 in New York, Explain and the real send both hold a marketing send until 08:00, by the
    same quiet-hours rule, from the same sender."""
    clock.set(datetime(2026, 12, 1, 21, 30, tzinfo=ZoneInfo("America/New_York")))
    service = make_service(stack, NYC_SENDER)
    params = {"To": MANHATTAN, "MessagingServiceSid": service.sid, "Body": BODY, "TrafficType": "marketing"}
    before = explain(stack, **params).json()
    assert (before["outcome"]["action"], before["outcome"]["at"]) == ("hold", "2026-12-02T13:00:00Z")

    sent = httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages.json",
        data=params,
        auth=(stack.account_sid, stack.auth_token),
    )
    assert sent.status_code == 201 and sent.json()["status"] == "scheduled", sent.text
    after = stored(stack, sent.json()["sid"]).json()
    assert decisions(after) == decisions(before)
    assert after["outcome"] == before["outcome"]


def test_explain_of_an_opted_out_number_names_the_scope_and_the_opt_out_event(stack):
    """After a STOP to the service, Explain refuses with 21610, naming the service scope and the STOP."""
    service = make_service(stack, US_SENDER)
    assert stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body=BODY).sid
    stop_sid = "SM" + "5" * 32
    assert inbound(stack, US_MOBILE, "STOP", sid=stop_sid).status_code == 200

    answer = explain(stack, To=US_MOBILE, MessagingServiceSid=service.sid, Body=BODY).json()
    [opt_out] = [gate for gate in answer["gates"] if gate["gate"] == "opt_out"]
    assert (opt_out["verdict"], opt_out["code"], opt_out["scope"]) == ("refuse", 21610, service.sid)
    event = opt_out["event"]
    assert (event["source"], event["keyword"]) == ("keyword", "STOP")
    assert event["inbound_message_sid"] is not None and opt_out["source"] == f"consent event {event['id']}"
    assert answer["outcome"] == {
        "action": "refuse",
        "at": None,
        "code": 21610,
        "gate": "opt_out",
        "message": "Attempt to send to unsubscribed recipient.",
    }


def test_explain_writes_nothing(stack):
    """Explaining a first send (it would map a sticky sender) and a refused one leaves every table as it was."""
    service = make_service(stack, US_SENDER)
    before = row_counts(stack)
    assert (
        explain(stack, To=US_MOBILE, MessagingServiceSid=service.sid, Body=BODY).json()["route"]["rule"] == "area_code"
    )
    assert explain(stack, To=US_MOBILE, From="+15005550006", Body=BODY).json()["outcome"]["code"] == 21606
    assert row_counts(stack) == before


def test_explain_of_a_region_the_service_does_not_permit_cites_its_geo_permissions(stack):
    """A French number for a US-only service is refused with 21408 by the service's GeoPermissions."""
    service = make_service(stack, US_SENDER)
    auth = (stack.account_sid, stack.auth_token)
    assert (
        httpx.post(
            f"{stack.url}/v1/Services/{service.sid}/GeoPermissions", data={"Countries": "US"}, auth=auth
        ).status_code
        == 200
    )
    answer = explain(stack, To=FR_MOBILE, MessagingServiceSid=service.sid, Body=BODY).json()
    [geo] = [gate for gate in answer["gates"] if gate["gate"] == "geo_permissions"]
    assert (geo["verdict"], geo["code"], geo["source"]) == ("refuse", 21408, f"service {service.sid}: GeoPermissions")
    assert answer["outcome"]["code"] == 21408


def test_explain_at_a_given_moment_decides_at_that_moment(stack):
    """`At` sets the moment of the decision; its offset is kept as UTC."""
    service = make_service(stack, US_SENDER)
    answer = explain(stack, To=US_MOBILE, MessagingServiceSid=service.sid, Body=BODY, At="2026-12-04T21:30:00-05:00")
    assert answer.json()["decided_at"] == "2026-12-05T02:30:00Z"


def test_explain_with_bad_input_answers_twilio_errors_and_writes_nothing(stack):
    """A missing To, an unreadable At and an unknown service are 4xx Twilio errors, as a send's would be."""
    service = make_service(stack, US_SENDER)
    before = row_counts(stack)
    cases = [
        ({"MessagingServiceSid": service.sid, "Body": BODY}, 400, 21604),
        ({"To": "+1555", "MessagingServiceSid": service.sid, "Body": BODY}, 400, 21211),
        ({"To": US_MOBILE, "MessagingServiceSid": service.sid, "Body": BODY, "At": "tomorrow"}, 400, 21100),
        ({"To": US_MOBILE, "MessagingServiceSid": service.sid, "Body": BODY, "At": "2026-12-04T21:30"}, 400, 21100),
        ({"To": US_MOBILE, "MessagingServiceSid": "MG" + "0" * 32, "Body": BODY}, 404, 20404),
    ]
    for params, status, code in cases:
        answer = explain(stack, **params)
        assert (answer.status_code, answer.json()["code"]) == (status, code), params
        assert set(answer.json()) == {"code", "message", "more_info", "status"}
    assert row_counts(stack) == before


def test_a_message_without_recorded_reasons_has_no_explanation(stack):
    """An inbound message (nothing was decided about sending it) answers 404 at its Explain."""
    make_service(stack, US_SENDER, inbound_request_url=stack.app.url("/inbound"))
    sid = "SM" + "7" * 32
    assert inbound(stack, US_MOBILE, "Running late", sid=sid).status_code == 200
    auth = (stack.account_sid, stack.auth_token)
    listed = wait_until(
        lambda: httpx.get(f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages.json", auth=auth).json()[
            "messages"
        ]
    )
    answer = stored(stack, listed[0]["sid"])
    assert (answer.status_code, answer.json()["code"]) == (404, 20404)


def test_explain_with_a_from_of_the_account_routes_by_that_from(stack):
    """A send naming its From is routed by rule `from`, and the opt-out scope is that number."""
    service = make_service(stack, US_SENDER)
    answer = explain(stack, To=US_MOBILE, From=US_SENDER, Body=BODY).json()
    route = answer["route"]
    assert (route["sender"], route["rule"], route["source"]) == (US_SENDER, "from", "request: From")
    [opt_out] = [gate for gate in answer["gates"] if gate["gate"] == "opt_out"]
    assert opt_out["scope"] == route["sender_sid"] and service.sid not in str(answer)


def test_another_account_learns_nothing_from_explain(stack):
    """Account B explaining with A's service, or asking for the reasons of A's message, gets 404."""
    service = make_service(stack, US_SENDER)
    message = stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body=BODY)
    other = stack.app_state.accounts.create("tenant B")
    auth = (other.sid, other.auth_token)
    answers = [
        httpx.post(
            f"{stack.url}/v1/Messages/Explain",
            auth=auth,
            data={"To": US_MOBILE, "MessagingServiceSid": service.sid, "Body": BODY},
        ),
        httpx.get(f"{stack.url}/v1/Messages/{message.sid}/Explain", auth=auth),
    ]
    for answer in answers:
        assert (answer.status_code, answer.json()["code"]) == (404, 20404)
        assert US_SENDER not in answer.text and message.sid not in answer.text and service.sid not in answer.text
