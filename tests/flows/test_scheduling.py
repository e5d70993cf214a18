"""Scheduled sends end to end, on the gateway's clock: the official twilio SDK schedules and
cancels, the stand-in Twilio gets what comes due, the stand-in app gets the status callbacks.

Each test sets the clock to an evening in New York first (`clock` before `stack`), schedules
for later that night, and then advances the clock instead of waiting.  To show that a message
was *not* sent, a second message scheduled for the same moment to someone else is awaited: the
release that sends it would have sent the first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlmodel import Session, select
from twilio.base.exceptions import TwilioRestException

from gateway.dates import Clock
from gateway.store.db import unit_of_work
from gateway.store.tables import Message, OptOut
from tests.conftest import CA_MOBILE, US_MOBILE
from tests.flows.test_inbound import inbound
from tests.flows.test_outbound import US_SENDER, _register
from tests.poll import wait_until

EVENING_IN_NEW_YORK = datetime(2026, 3, 10, 21, 30, tzinfo=ZoneInfo("America/New_York"))
DUE_IN = timedelta(hours=1)


@pytest.fixture
def service(clock: Clock, stack):  # type: ignore[no-untyped-def]
    """A Messaging Service with one number and a status callback to the stand-in app, at 21:30 in New York."""
    clock.set(EVENING_IN_NEW_YORK)
    number = _register(stack, US_SENDER, mps=20)
    client = stack.client()
    created = client.messaging.v1.services.create(friendly_name="Acme Dental", status_callback=stack.app.url("/status"))
    client.messaging.v1.services(created.sid).phone_numbers.create(phone_number_sid=number["sid"])
    return created


def schedule(stack, service, to: str, body: str, due: timedelta = DUE_IN):  # type: ignore[no-untyped-def]
    """Schedule through the SDK, `due` after the clock's now (SendAt in UTC, as Twilio asks)."""
    send_at = (stack.app_state.clock.now() + due).astimezone(UTC)
    return stack.client().messages.create(
        messaging_service_sid=service.sid, to=to, body=body, schedule_type="fixed", send_at=send_at
    )


def sent(stack, body: str):  # type: ignore[no-untyped-def]
    return [r for r in stack.provider.received if r.body == body]


def callbacks(stack, sid: str) -> list[str | None]:  # type: ignore[no-untyped-def]
    return [
        r.field("MessageStatus") for r in stack.app.received if r.path == "/status" and r.field("MessageSid") == sid
    ]


def post_message(stack, **fields: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages.json",
        data=fields,
        auth=(stack.account_sid, stack.auth_token),
    )


def test_a_scheduled_send_waits_as_scheduled_then_goes_when_the_clock_reaches_it(clock, stack, service):
    """status `scheduled` (From not yet shown) until SendAt; then `queued` and `sent` callbacks and the provider gets it."""
    message = schedule(stack, service, US_MOBILE, "Your cleaning is tomorrow at 9:00")
    assert (message.status, message.from_, message.messaging_service_sid) == ("scheduled", None, service.sid)
    assert stack.client().messages(message.sid).fetch().status == "scheduled"
    with Session(stack.engine()) as session:
        row = session.exec(select(Message).where(Message.sid == message.sid)).one()
    assert row.hold_reason == "request: SendAt"  # due an hour after 21:30 New York, to the second SendAt carries
    assert timedelta(0) <= row.send_at - (EVENING_IN_NEW_YORK + DUE_IN) < timedelta(seconds=30)
    clock.advance(DUE_IN - timedelta(minutes=1))  # not yet due: a message due now goes, this one stays
    now = stack.client().messages.create(messaging_service_sid=service.sid, to=CA_MOBILE, body="Sent right away")
    wait_until(lambda: sent(stack, "Sent right away"))
    assert not sent(stack, "Your cleaning is tomorrow at 9:00") and now.status == "accepted"
    assert stack.client().messages(message.sid).fetch().status == "scheduled"

    clock.advance(timedelta(minutes=1))
    [delivered] = wait_until(lambda: sent(stack, "Your cleaning is tomorrow at 9:00"))
    assert (delivered.sender, delivered.to) == (US_SENDER, US_MOBILE)
    wait_until(lambda: "sent" in callbacks(stack, message.sid))
    assert callbacks(stack, message.sid)[:2] == ["queued", "sent"]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"MessagingServiceSid": None, "From": US_SENDER}, 35118),  # scheduling needs a Messaging Service
        ({"SendAt": None}, 35111),  # ScheduleType=fixed without SendAt
        ({"SendAt": "in an hour"}, 35115),  # not ISO 8601
        ({"SendAt": "2026-03-11T03:30:00"}, 35115),  # no UTC offset: 03:30 where?
        ({"SendAt": timedelta(minutes=10)}, 35115),  # sooner than the 900 s minimum
        ({"SendAt": timedelta(days=36)}, 35115),  # beyond 35 days
        ({"ScheduleType": "recurring"}, 35126),  # only `fixed` exists
        ({"ScheduleType": None}, 35126),  # a SendAt without ScheduleType is not sent at once
    ],
    ids=["no-service", "no-send-at", "not-iso", "no-offset", "too-soon", "too-far", "recurring", "no-schedule-type"],
)
def test_a_schedule_outside_twilios_rules_is_refused_with_its_code_and_stores_nothing(
    clock, stack, service, changes, code
):
    """Each scheduling mistake answers 400 with Twilio's code in Twilio's JSON error shape; no message is stored."""
    now = clock.now()
    form = {
        "To": US_MOBILE,
        "Body": "Reminder",
        "MessagingServiceSid": service.sid,
        "ScheduleType": "fixed",
        "SendAt": (now + DUE_IN).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for name, value in changes.items():
        if value is None:
            form.pop(name)
        else:
            form[name] = (now + value).isoformat() if isinstance(value, timedelta) else value
    response = post_message(stack, **form)
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["status"]) == (code, 400) and body["message"] and str(code) in body["more_info"]
    assert stack.client().messages.list() == []


@pytest.mark.gateway(schedule_min_seconds=300)
def test_the_minimum_lead_time_is_a_setting(clock, stack, service):
    """With GATEWAY_SCHEDULE_MIN_SECONDS=300 a SendAt six minutes ahead is scheduled (the default, 900 s, refuses it)."""
    message = schedule(stack, service, US_MOBILE, "Six minutes ahead", due=timedelta(minutes=6))
    assert message.status == "scheduled"


def test_the_sdk_cancels_a_scheduled_message_with_a_canceled_callback_and_it_is_never_sent(clock, stack, service):
    """messages(sid).update(status="canceled") answers `canceled`, the app hears `canceled`, and the due time sends nothing."""
    canceled = schedule(stack, service, US_MOBILE, "Canceled reminder")
    schedule(stack, service, CA_MOBILE, "Kept reminder")
    answer = stack.client().messages(canceled.sid).update(status="canceled")
    assert (answer.sid, answer.status) == (canceled.sid, "canceled")
    wait_until(lambda: callbacks(stack, canceled.sid) == ["canceled"])
    clock.advance(DUE_IN)
    wait_until(lambda: sent(stack, "Kept reminder"))
    assert not sent(stack, "Canceled reminder")
    assert stack.client().messages(canceled.sid).fetch().status == "canceled"


def test_canceling_a_message_already_sent_is_30409(clock, stack, service):
    """Once a scheduled message has gone, cancel answers 30409 and changes nothing."""
    message = schedule(stack, service, US_MOBILE, "Already gone")
    clock.advance(DUE_IN)
    wait_until(lambda: stack.client().messages(message.sid).fetch().status in ("sent", "delivered"))
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages(message.sid).update(status="canceled")
    assert (error.value.status, error.value.code) == (400, 30409)
    assert stack.client().messages(message.sid).fetch().status in ("sent", "delivered")


def test_another_accounts_message_cannot_be_canceled(clock, stack, service):
    """Account B canceling account A's scheduled message gets 404, and it stays scheduled."""
    message = schedule(stack, service, US_MOBILE, "Not yours")
    other = stack.app_state.accounts.create("other")
    response = httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{other.sid}/Messages/{message.sid}.json",
        data={"Status": "canceled"},
        auth=(other.sid, other.auth_token),
    )
    assert (response.status_code, response.json()["code"]) == (404, 20404)
    assert stack.client().messages(message.sid).fetch().status == "scheduled"


def test_an_update_other_than_canceling_is_refused(clock, stack, service):
    """Status=sent, or a Body redaction, answers 400 and leaves the message scheduled."""
    message = schedule(stack, service, US_MOBILE, "Stays scheduled")
    url = f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages/{message.sid}.json"
    for form in ({"Status": "sent"}, {"Body": ""}):
        response = httpx.post(url, data=form, auth=(stack.account_sid, stack.auth_token))
        assert (response.status_code, response.json()["code"]) == (400, 21100)
    assert stack.client().messages(message.sid).fetch().status == "scheduled"


def test_a_stop_cancels_the_numbers_scheduled_messages_at_once_with_callbacks(clock, stack, service):
    """An inbound STOP cancels what is scheduled for that number in the service (21610, `canceled` callbacks) before it is due."""
    first = schedule(stack, service, US_MOBILE, "First reminder")
    second = schedule(stack, service, US_MOBILE, "Second reminder", due=2 * DUE_IN)
    other = schedule(stack, service, CA_MOBILE, "Someone else's reminder")
    assert inbound(stack, US_MOBILE, "STOP").status_code == 200
    for message in (first, second):
        wait_until(lambda m=message: callbacks(stack, m.sid) == ["canceled"])
        fetched = stack.client().messages(message.sid).fetch()
        assert (fetched.status, fetched.error_code) == ("canceled", 21610)
    clock.advance(2 * DUE_IN)
    wait_until(lambda: sent(stack, "Someone else's reminder"))
    assert not sent(stack, "First reminder") and not sent(stack, "Second reminder")
    assert stack.client().messages(other.sid).fetch().status != "canceled"


def test_a_recipient_opted_out_when_the_message_comes_due_is_not_sent(clock, stack, service):
    """An opt-out that reached the database without canceling (another tool, a restore) still stops the due
    message: the gate runs again and fails it with 21610 and a `failed` callback."""
    message = schedule(stack, service, US_MOBILE, "Should not go")
    kept = schedule(stack, service, CA_MOBILE, "Goes")
    with unit_of_work(stack.engine()) as session:
        session.add(
            OptOut(
                account_sid=stack.account_sid,
                service_sid=service.sid,
                number=US_MOBILE,
                channel="sms",
                opted_out=True,
                date_updated=clock.now(),
            )
        )
    clock.advance(DUE_IN)
    wait_until(lambda: sent(stack, "Goes"))
    assert not sent(stack, "Should not go")
    fetched = stack.client().messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("failed", 21610)
    wait_until(lambda: callbacks(stack, message.sid) == ["failed"])
    assert [r.field("ErrorCode") for r in stack.app.received if r.field("MessageSid") == message.sid] == ["21610"]
    assert stack.client().messages(kept.sid).fetch().status != "failed"


def test_a_service_that_stops_permitting_the_country_fails_the_due_message_with_21408(clock, stack, service):
    """Geo permissions are checked again when the message comes due: a country no longer listed fails it with 21408."""
    message = schedule(stack, service, CA_MOBILE, "To Canada")
    kept = schedule(stack, service, US_MOBILE, "To the US")
    httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/GeoPermissions",
        data={"Countries": "US"},
        auth=(stack.account_sid, stack.auth_token),
    ).raise_for_status()
    clock.advance(DUE_IN)
    wait_until(lambda: sent(stack, "To the US"))
    assert not sent(stack, "To Canada")
    fetched = stack.client().messages(message.sid).fetch()
    assert (fetched.status, fetched.error_code) == ("failed", 21408)
    assert stack.client().messages(kept.sid).fetch().status != "failed"


def test_scheduled_messages_survive_a_restart_and_go_once(clock, stack, service):
    """Scheduled, gateway stopped and a new one started on the same database, clock advanced: sent exactly once."""
    message = schedule(stack, service, US_MOBILE, "Survives the restart")
    stack.restart()
    assert stack.client().messages(message.sid).fetch().status == "scheduled"
    clock.advance(DUE_IN)
    wait_until(lambda: stack.client().messages(message.sid).fetch().status == "delivered")
    assert len(sent(stack, "Survives the restart")) == 1


@pytest.mark.gateway(scheduled_limit=2)
def test_an_account_with_its_limit_of_scheduled_messages_waiting_is_refused_35125(clock, stack, service):
    """With GATEWAY_SCHEDULED_LIMIT=2, a third SendAt answers 400 with 35125 and stores nothing; a send now still
    goes, and once a scheduled message is canceled the account may schedule one more."""
    first = schedule(stack, service, US_MOBILE, "First reminder")
    schedule(stack, service, CA_MOBILE, "Second reminder")
    form = {
        "To": US_MOBILE,
        "Body": "Third reminder",
        "MessagingServiceSid": service.sid,
        "ScheduleType": "fixed",
        "SendAt": (clock.now() + DUE_IN).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    refused = post_message(stack, **form)
    assert refused.status_code == 400
    assert (refused.json()["code"], refused.json()["status"]) == (35125, 400)
    assert post_message(stack, To=US_MOBILE, Body="Right away", MessagingServiceSid=service.sid).status_code == 201
    assert len(stack.client().messages.list()) == 3

    stack.client().messages(first.sid).update(status="canceled")
    assert post_message(stack, **form).json()["status"] == "scheduled"
