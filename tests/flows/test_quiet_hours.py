"""Quiet hours and sender-ID registration end to end: HTTP in, the database, the hold, the stand-in provider."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from gateway.store.tables import Message
from tests.conftest import FR_MOBILE, GB_MOBILE, US_MOBILE
from tests.flows.test_inbound import HELP_ANSWER, confirmations, inbound
from tests.flows.test_outbound import NYC_SENDER, US_SENDER, make_service, received_by
from tests.poll import wait_until

MANHATTAN = "+12125550123"  # area code 212: New York, no state window beyond the TCPA's
BODY = "Winter sale: 20% off all cleanings this week. Reply STOP to opt out."


def local(text: str, zone: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def send(stack, **params: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages.json",
        data=params,
        auth=(stack.account_sid, stack.auth_token),
    )


def set_service(stack, sid: str, **fields: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{stack.url}/v1/Services/{sid}", data=fields, auth=(stack.account_sid, stack.auth_token))


def reasons(stack, sid: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = httpx.get(f"{stack.url}/v1/Messages/{sid}/Explain", auth=(stack.account_sid, stack.auth_token))
    assert response.status_code == 200, response.text
    return response.json()


def gate(explanation: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in explanation["gates"] if g["gate"] == name)


def stored(stack, sid: str) -> Message:  # type: ignore[no-untyped-def]
    from sqlmodel import Session, select

    with Session(stack.engine()) as session:
        return session.exec(select(Message).where(Message.sid == sid)).one()


def test_marketing_at_2130_in_new_york_is_held_until_0800_then_sent(clock, stack):
    """A marketing send at 21:30 New York time waits `scheduled` until 08:00, then goes out."""
    clock.set(local("2026-12-01 21:30", "America/New_York"))
    service = make_service(stack, NYC_SENDER)
    response = send(stack, To=MANHATTAN, MessagingServiceSid=service.sid, Body=BODY, TrafficType="marketing")
    assert response.status_code == 201, response.text
    sid = response.json()["sid"]
    row = stored(stack, sid)
    assert row.status == "scheduled" and row.send_at == local("2026-12-02 08:00", "America/New_York")
    assert row.hold_reason.startswith("countries/US.toml:")
    quiet = gate(reasons(stack, sid), "quiet_hours")
    assert (quiet["verdict"], quiet["window"], quiet["until"]) == (
        "hold",
        "US: Mon-Sun 08:00-21:00",
        "2026-12-02T13:00:00Z",
    )
    assert quiet["local_time"] == "2026-12-01 21:30 America/New_York (Tue)"
    reminder = "Reminder: your cleaning is tomorrow at 9:00."  # transactional, behind it on the same sender
    assert send(stack, To=MANHATTAN, MessagingServiceSid=service.sid, Body=reminder).status_code == 201
    [arrived] = wait_until(lambda: received_by(stack, MANHATTAN))
    assert arrived.body == reminder  # the held one did not go first

    clock.advance(timedelta(hours=10, minutes=31))
    sent = wait_until(lambda: received_by(stack, MANHATTAN)[1:], 20)
    assert [(m.sender, m.body) for m in sent] == [(NYC_SENDER, BODY)]


def test_the_same_send_as_transactional_goes_now(clock, stack):
    clock.set(local("2026-12-01 21:30", "America/New_York"))
    service = make_service(stack, NYC_SENDER)
    response = send(stack, To=MANHATTAN, MessagingServiceSid=service.sid, Body=BODY, TrafficType="transactional")
    assert response.status_code == 201, response.text
    assert wait_until(lambda: received_by(stack, MANHATTAN))
    assert gate(reasons(stack, response.json()["sid"]), "quiet_hours")["verdict"] == "skip"


def test_the_service_traffic_type_is_the_default_of_its_sends(clock, stack):
    """A service whose TrafficType is marketing holds a send that names none."""
    clock.set(local("2026-12-01 21:30", "America/New_York"))
    service = make_service(stack, NYC_SENDER)
    updated = set_service(stack, service.sid, TrafficType="marketing")
    assert updated.json()["traffic_type"] == "marketing"
    response = send(stack, To=MANHATTAN, MessagingServiceSid=service.sid, Body=BODY)
    quiet = gate(reasons(stack, response.json()["sid"]), "quiet_hours")
    assert (quiet["verdict"], quiet["traffic_type_source"]) == ("hold", f"service {service.sid}: TrafficType")


def test_a_bad_traffic_type_is_a_400_that_stores_nothing(stack):
    service = make_service(stack, NYC_SENDER)
    response = send(stack, To=MANHATTAN, MessagingServiceSid=service.sid, Body=BODY, TrafficType="promo")
    assert response.status_code == 400
    assert response.json()["message"] == "TrafficType must be marketing or transactional, not 'promo'."
    assert stack.client().messages.list() == []


def test_french_marketing_on_a_sunday_is_held_to_monday_0800(clock, stack):
    clock.set(local("2026-12-06 11:00", "Europe/Paris"))
    service = make_service(stack, US_SENDER)
    response = send(stack, To=FR_MOBILE, MessagingServiceSid=service.sid, Body=BODY, TrafficType="marketing")
    assert response.status_code == 201, response.text
    row = stored(stack, response.json()["sid"])
    assert row.status == "scheduled" and row.send_at == local("2026-12-07 08:00", "Europe/Paris")
    quiet = gate(reasons(stack, row.sid), "quiet_hours")
    assert quiet["window"] == "FR: Mon-Sat 08:00-22:00, closed on public holidays"


def test_a_stop_confirmation_at_2300_is_never_held(clock, stack):
    """STOP at 23:00 local time to a marketing service: the confirmation goes out now."""
    clock.set(local("2026-12-01 23:00", "America/New_York"))
    service = make_service(stack, US_SENDER)
    set_service(stack, service.sid, TrafficType="marketing")
    assert inbound(stack, US_MOBILE, "STOP").status_code == 200
    [reply] = wait_until(lambda: confirmations(stack, US_MOBILE), 20)
    assert reply.sender == US_SENDER


def test_a_help_reply_at_2300_is_never_held(clock, stack):
    """HELP at 23:00 local time to a marketing service: the help reply goes out now."""
    clock.set(local("2026-12-01 23:00", "America/New_York"))
    service = make_service(stack, US_SENDER)
    set_service(stack, service.sid, TrafficType="marketing")
    assert inbound(stack, US_MOBILE, "HELP").status_code == 200
    [reply] = wait_until(lambda: confirmations(stack, US_MOBILE), 20)
    assert HELP_ANSWER in reply.body


def alpha_service(stack, registered: str | None = None):  # type: ignore[no-untyped-def]
    service = make_service(stack)
    data = {"AlphaSender": "ACME"} | ({"RegisteredCountries": registered} if registered else {})
    created = httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/AlphaSenders", data=data, auth=(stack.account_sid, stack.auth_token)
    )
    assert created.status_code == 201, created.text
    return service, created.json()


def test_an_unregistered_alpha_sender_to_the_uk_is_sent_with_a_30018_warning(stack):
    """GB requires registered alpha senders: ACME, registered nowhere, goes out, and the warning is kept."""
    service, alpha = alpha_service(stack)
    assert alpha["registered_countries"] == []
    response = send(stack, To=GB_MOBILE, MessagingServiceSid=service.sid, Body="Your code is 123456")
    assert response.status_code == 201, response.text
    [sent] = wait_until(lambda: received_by(stack, GB_MOBILE))
    assert sent.sender == "ACME"
    sender_id = gate(reasons(stack, response.json()["sid"]), "sender_id")
    assert (sender_id["verdict"], sender_id["warning_code"], sender_id["alpha_sender"]) == (
        "warn",
        30018,
        "registration_required",
    )
    assert sender_id["source"].startswith("countries/GB.toml:")


def test_an_alpha_sender_registered_for_the_uk_passes(stack):
    service, alpha = alpha_service(stack, "gb,fr")
    assert alpha["registered_countries"] == ["FR", "GB"]
    response = send(stack, To=GB_MOBILE, MessagingServiceSid=service.sid, Body="Your code is 123456")
    assert gate(reasons(stack, response.json()["sid"]), "sender_id")["verdict"] == "pass"


def test_explain_at_2130_says_a_marketing_send_would_wait_until_0800(stack):
    """Explain with `At` answers the quiet-hours verdict, the local time and the release, writing nothing."""
    service = make_service(stack, NYC_SENDER)
    answer = httpx.post(
        f"{stack.url}/v1/Messages/Explain",
        auth=(stack.account_sid, stack.auth_token),
        data={
            "To": MANHATTAN,
            "MessagingServiceSid": service.sid,
            "Body": BODY,
            "TrafficType": "marketing",
            "At": "2026-12-01T21:30:00-05:00",
        },
    )
    assert answer.status_code == 200, answer.text
    explanation = answer.json()
    assert (explanation["outcome"]["action"], explanation["outcome"]["at"]) == ("hold", "2026-12-02T13:00:00Z")
    quiet = gate(explanation, "quiet_hours")
    assert quiet["local_time"] == "2026-12-01 21:30 America/New_York (Tue)" and quiet["source"].startswith(
        "countries/US.toml:"
    )
    assert stack.client().messages.list() == []


def test_a_marketing_send_scheduled_for_2300_waits_for_0800(clock, stack):
    """Quiet hours judge an app-scheduled send at its SendAt: 23:00 in New York becomes 08:00 next day."""
    clock.set(local("2026-12-01 14:00", "America/New_York"))
    service = make_service(stack, NYC_SENDER)
    response = send(
        stack,
        To=MANHATTAN,
        MessagingServiceSid=service.sid,
        Body=BODY,
        TrafficType="marketing",
        ScheduleType="fixed",
        SendAt="2026-12-01T23:00:00-05:00",
    )
    assert response.status_code == 201, response.text
    row = stored(stack, response.json()["sid"])
    assert row.status == "scheduled" and row.send_at == local("2026-12-02 08:00", "America/New_York")
    assert gate(reasons(stack, row.sid), "quiet_hours")["local_time"] == "2026-12-01 23:00 America/New_York (Tue)"


def test_a_services_own_quiet_hours_hold_marketing_inside_the_laws_window(clock, stack):
    """19:00 on a Tuesday is inside the TCPA's window but after the service's 18:00: held to Wednesday 09:00."""
    clock.set(local("2026-12-01 19:00", "America/New_York"))
    service = make_service(stack, NYC_SENDER)
    updated = set_service(stack, service.sid, QuietHours="Mon-Fri 09:00-18:00; Sat 10:00-14:00")
    assert updated.json()["quiet_hours"] == ["Mon-Fri 09:00-18:00", "Sat 10:00-14:00"]
    response = send(stack, To=MANHATTAN, MessagingServiceSid=service.sid, Body=BODY, TrafficType="marketing")
    row = stored(stack, response.json()["sid"])
    assert row.status == "scheduled" and row.send_at == local("2026-12-02 09:00", "America/New_York")
    assert row.hold_reason == f"service {service.sid}: QuietHours"


def test_a_bad_service_quiet_hours_window_is_a_400_that_changes_nothing(stack):
    service = make_service(stack, NYC_SENDER)
    response = set_service(stack, service.sid, QuietHours="Mon-Fri 18:00-09:00")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "QuietHours: 'Mon-Fri 18:00-09:00': the window must open before it closes, on the same day."
    )
    assert set_service(stack, service.sid).json()["quiet_hours"] is None


def test_registering_an_alpha_sender_later_applies_to_the_next_send(stack):
    """RegisteredCountries updated on the pool member: the next send to the UK passes the sender-ID gate."""
    service, alpha = alpha_service(stack)
    first = send(stack, To=GB_MOBILE, MessagingServiceSid=service.sid, Body="Your code is 123456")
    assert gate(reasons(stack, first.json()["sid"]), "sender_id")["verdict"] == "warn"  # routing cached the pool
    updated = httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/AlphaSenders/{alpha['sid']}",
        data={"RegisteredCountries": "GB"},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert updated.status_code == 200 and updated.json()["registered_countries"] == ["GB"]
    response = send(stack, To=GB_MOBILE, MessagingServiceSid=service.sid, Body="Your code is 123456")
    assert gate(reasons(stack, response.json()["sid"]), "sender_id")["verdict"] == "pass"


def test_registered_countries_of_a_phone_number_member_is_a_404(stack):
    service = make_service(stack, NYC_SENDER)
    [number] = stack.client().messaging.v1.services(service.sid).phone_numbers.list()
    response = httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/AlphaSenders/{number.sid}",
        data={"RegisteredCountries": "GB"},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.status_code == 404 and response.json()["code"] == 20404
