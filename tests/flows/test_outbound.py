"""The outbound core end to end: the official twilio SDK in, the stand-in Twilio out."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from gateway.store.db import unit_of_work, utcnow
from gateway.store.tables import OptOut
from tests.conftest import GB_MOBILE, JP_MOBILE, US_MOBILE
from tests.poll import wait_until

US_SENDER = "+12015550124"  # area code 201, like US_MOBILE
NYC_SENDER = "+12125550100"
TOLL_FREE = "+18005550100"


def make_service(stack, *numbers: str, mps: int | None = None, **options):  # type: ignore[no-untyped-def]
    client = stack.client()
    service = client.messaging.v1.services.create(friendly_name="Acme Dental", **options)
    for number in numbers:
        registered = _register(stack, number, mps)
        client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=registered["sid"])
    return service


def _register(stack, number: str, mps: int | None = None) -> dict:  # type: ignore[no-untyped-def]
    """Register a sender: through the twilio SDK, or over HTTP when it needs the gateway's own `Mps` field."""
    if mps is None:
        created = stack.client().incoming_phone_numbers.create(phone_number=number)
        return {"sid": created.sid, "phone_number": created.phone_number}
    data = {"PhoneNumber": number, "Mps": str(mps)}
    response = httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/IncomingPhoneNumbers.json",
        data=data,
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.status_code == 201, response.text
    return response.json()


def received_by(stack, to: str):  # type: ignore[no-untyped-def]
    return [r for r in stack.provider.received if r.to == to]


def test_sdk_send_via_messaging_service_reaches_the_provider_from_the_pool(stack):
    """messages.create(messaging_service_sid=…) is accepted, then delivered from the pool's number."""
    service = make_service(stack, US_SENDER)
    message = stack.client().messages.create(
        messaging_service_sid=service.sid, to=US_MOBILE, body="Your cleaning is Tuesday 9:00"
    )
    assert message.status == "accepted" and message.sid.startswith("SM") and message.num_segments == "1"
    [sent] = wait_until(lambda: received_by(stack, US_MOBILE))
    assert (sent.sender, sent.body) == (US_SENDER, "Your cleaning is Tuesday 9:00")
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status == "delivered")


def test_sdk_fetch_and_list_with_paging_newest_first(stack):
    service = make_service(stack, US_SENDER, mps=50)
    client = stack.client()
    sids = [client.messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body=f"n{i}").sid for i in range(5)]
    assert client.messages(sids[0]).fetch().body == "n0"
    listed = client.messages.list(limit=5, page_size=2)
    assert [m.sid for m in listed] == sids[::-1]
    assert [m.sid for m in client.messages.list(to=US_MOBILE)] == sids[::-1]


def test_list_filters_by_date_sent_as_the_sdk_and_twilios_docs_write_it(stack):
    """DateSent=YYYY-MM-DD (Twilio's docs), DateSent> and DateSent< with datetimes (the SDK's date_sent_after/before)."""
    service = make_service(stack, US_SENDER)
    client = stack.client()
    sent = client.messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="Your cleaning is Tuesday 9:00")
    wait_until(lambda: client.messages(sent.sid).fetch().status == "delivered")
    waiting = client.messages.create(
        messaging_service_sid=service.sid,
        to=US_MOBILE,
        body="n1",
        schedule_type="fixed",
        send_at=utcnow() + timedelta(hours=1),
    )  # never sent: no DateSent
    today, hour = utcnow().date(), timedelta(hours=1)
    assert [m.sid for m in client.messages.list(date_sent=today)] == [sent.sid]
    assert [m.sid for m in client.messages.list(date_sent_after=utcnow() - hour)] == [sent.sid]
    assert [m.sid for m in client.messages.list(date_sent_before=utcnow() - hour)] == []
    assert {m.sid for m in client.messages.list()} == {sent.sid, waiting.sid}


def test_a_date_sent_that_is_no_date_is_a_400(stack):
    response = httpx.get(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/Messages.json",
        params={"DateSent": "last tuesday"},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.status_code == 400 and "DateSent must be a date" in response.json()["message"]


def test_invalid_to_is_21211(stack):
    service = make_service(stack, US_SENDER)
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(messaging_service_sid=service.sid, to="+15558675310", body="hi")
    assert (error.value.status, error.value.code) == (400, 21211)


def test_opted_out_recipient_is_21610(stack):
    service = make_service(stack, US_SENDER)
    engine = stack.engine()
    with unit_of_work(engine) as session:
        session.add(
            OptOut(
                account_sid=stack.account_sid,
                service_sid=service.sid,
                number=US_MOBILE,
                channel="sms",
                opted_out=True,
                date_updated=utcnow(),
            )
        )
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="hi")
    assert error.value.code == 21610


def test_country_outside_geo_permissions_is_21408_and_listed_countries_pass(stack):
    service = make_service(stack, US_SENDER)
    httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/GeoPermissions",
        data={"Countries": "US,CA"},
        auth=(stack.account_sid, stack.auth_token),
    ).raise_for_status()
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(messaging_service_sid=service.sid, to=GB_MOBILE, body="hi")
    assert error.value.code == 21408
    assert stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="hi").sid


def test_wrong_auth_token_is_20003(stack):
    with pytest.raises(TwilioRestException) as error:
        stack.client(token="0" * 32).messages.create(from_=US_SENDER, to=US_MOBILE, body="hi")
    assert (error.value.status, error.value.code) == (401, 20003)


def test_from_not_in_the_account_is_21606(stack):
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(from_=NYC_SENDER, to=US_MOBILE, body="hi")
    assert error.value.code == 21606


def test_no_body_and_no_media_is_21602(stack):
    _register(stack, US_SENDER)
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(from_=US_SENDER, to=US_MOBILE)
    assert error.value.code == 21602


def test_body_over_1600_characters_is_21617(stack):
    _register(stack, US_SENDER)
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(from_=US_SENDER, to=US_MOBILE, body="x" * 1601)
    assert error.value.code == 21617


def test_another_accounts_service_is_not_visible(stack):
    service = make_service(stack, US_SENDER)
    other = httpx.post(
        f"{stack.url}/v1/Services", data={"FriendlyName": "x"}, auth=(stack.account_sid, stack.auth_token)
    )
    assert other.status_code == 201
    intruder = stack.app_state.accounts.create("intruder")
    response = httpx.get(f"{stack.url}/v1/Services/{service.sid}", auth=(intruder.sid, intruder.auth_token))
    assert response.status_code == 404 and response.json()["code"] == 20404


def test_area_code_geomatch_picks_the_same_area_code(stack):
    """A 201 recipient gets the 201 number, not the 212 one, when AreaCodeGeomatch is on."""
    service = make_service(stack, NYC_SENDER, US_SENDER, area_code_geomatch=True, sticky_sender=False)
    stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="hi")
    assert wait_until(lambda: received_by(stack, US_MOBILE))[0].sender == US_SENDER


def test_short_code_of_the_recipients_country_wins(stack):
    service = make_service(stack, US_SENDER)
    auth = (stack.account_sid, stack.auth_token)
    httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/ShortCodes",
        data={"ShortCode": "12345", "CountryCode": "US", "Provider": "twilio"},
        auth=auth,
    ).raise_for_status()
    stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="hi")
    assert wait_until(lambda: received_by(stack, US_MOBILE))[0].sender == "12345"


def test_no_sender_for_the_country_falls_back_to_a_us_number(stack):
    service = make_service(stack, US_SENDER)
    stack.client().messages.create(messaging_service_sid=service.sid, to=JP_MOBILE, body="hi")
    assert wait_until(lambda: received_by(stack, JP_MOBILE))[0].sender == US_SENDER


def test_sticky_sender_is_recorded_inspectable_and_resettable(stack):
    service = make_service(stack, US_SENDER, NYC_SENDER, sticky_sender=True, area_code_geomatch=False)
    auth = (stack.account_sid, stack.auth_token)
    stack.client().messages.create(messaging_service_sid=service.sid, to=GB_MOBILE, body="hi")
    mapping = httpx.get(f"{stack.url}/v1/Services/{service.sid}/StickySenders/{GB_MOBILE}", auth=auth).json()
    assert mapping["sender"] in (US_SENDER, NYC_SENDER)
    other = NYC_SENDER if mapping["sender"] == US_SENDER else US_SENDER
    pinned = httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/StickySenders/{GB_MOBILE}", data={"Sender": other}, auth=auth
    ).json()
    assert pinned["sender"] == other and pinned["pinned"]
    stack.client().messages.create(messaging_service_sid=service.sid, to=GB_MOBILE, body="again")
    assert wait_until(lambda: [r for r in received_by(stack, GB_MOBILE) if r.body == "again"])[0].sender == other
    assert (
        httpx.delete(f"{stack.url}/v1/Services/{service.sid}/StickySenders/{GB_MOBILE}", auth=auth).status_code == 204
    )
    assert httpx.get(f"{stack.url}/v1/Services/{service.sid}/StickySenders/{GB_MOBILE}", auth=auth).status_code == 404


def test_each_sender_keeps_its_own_mps(stack):
    """Three senders at 2, 5 and 10 MPS, backlogged: none exceeds its MPS in any one-second window."""
    rates = {"+12015550131": 2, "+12015550132": 5, "+12015550133": 10}
    client = stack.client()
    for number, mps in rates.items():
        _register(stack, number, mps)
        for i in range(mps * 2 + 1):
            client.messages.create(from_=number, to=US_MOBILE, body=f"{number} {i}")
    wait_until(lambda: len(stack.provider.received) >= sum(2 * m + 1 for m in rates.values()), timeout=15)
    times = defaultdict(list)
    for r in stack.provider.received:
        times[r.sender].append(r.received_at)
    for number, mps in rates.items():
        stamps = sorted(times[number])
        worst = max(sum(1 for t in stamps if start <= t < start + 1.0) for start in stamps)
        assert worst <= mps, (number, worst, mps)
        assert stamps[-1] - stamps[0] >= 2.0  # 2·mps+1 messages need more than two windows


def test_a_message_still_queued_when_its_validity_ends_fails_with_30036_and_a_callback(stack):
    """The provider throttles for 5 s; messages valid for 2 s fail with 30036 and say so."""
    _register(stack, US_SENDER, mps=10)
    stack.provider.throttle(10, retry_after=5)
    client = stack.client()
    callback = stack.app.url("/status")
    sids = [
        client.messages.create(
            from_=US_SENDER, to=US_MOBILE, body=f"m{i}", validity_period=2, status_callback=callback
        ).sid
        for i in range(3)
    ]
    last = wait_until(lambda: [m for m in [client.messages(sids[-1]).fetch()] if m.status == "failed"], timeout=8)[0]
    assert last.error_code == 30036
    failed = stack.app.wait_for(lambda r: r.field("MessageSid") == sids[-1] and r.field("MessageStatus") == "failed")
    assert failed[0].field("ErrorCode") == "30036"


def test_backlog_that_cannot_drain_within_validity_is_21611(stack):
    _register(stack, US_SENDER, mps=1)
    client = stack.client()
    for i in range(3):
        client.messages.create(from_=US_SENDER, to=US_MOBILE, body=f"m{i}", validity_period=3)
    with pytest.raises(TwilioRestException) as error:
        for i in range(3):
            client.messages.create(from_=US_SENDER, to=US_MOBILE, body=f"x{i}", validity_period=3)
    assert error.value.code == 21611


def test_provider_429_is_retried_after_retry_after(stack):
    _register(stack, US_SENDER, mps=10)
    stack.provider.throttle(1, retry_after=0.6)
    started = time.monotonic()
    sid = stack.client().messages.create(from_=US_SENDER, to=US_MOBILE, body="patience").sid
    [sent] = wait_until(lambda: received_by(stack, US_MOBILE))
    assert sent.received_at - started >= 0.6
    assert wait_until(lambda: stack.client().messages(sid).fetch().status in ("sent", "delivered"))


def test_provider_permanent_error_fails_the_message_with_its_code(stack):
    _register(stack, US_SENDER, mps=10)
    sid = stack.client().messages.create(from_=US_SENDER, to="+33699123456", body="bonjour").sid
    message = wait_until(lambda: [m for m in [stack.client().messages(sid).fetch()] if m.status == "failed"])[0]
    assert message.error_code == 21614


def test_status_callbacks_arrive_in_order_and_signed_with_the_account_token(stack):
    service = make_service(stack, US_SENDER, mps=10)
    callback = stack.app.url("/status")
    sid = (
        stack.client()
        .messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="hi", status_callback=callback)
        .sid
    )
    stack.app.wait_for(lambda r: r.field("MessageStatus") == "delivered")
    calls = [r for r in stack.app.received if r.field("MessageSid") == sid]
    assert [r.field("MessageStatus") for r in calls] == ["sent", "delivered"]
    validator = RequestValidator(stack.auth_token)
    for call in calls:
        assert validator.validate(callback, dict(call.form), call.headers["x-twilio-signature"])
        assert call.field("MessagingServiceSid") == service.sid and call.field("AccountSid") == stack.account_sid


@contextmanager
def account_reads_on_a_loop() -> Iterator[list[bool]]:
    """For every statement that reads the account table, in any engine of this process: whether it
    ran on a thread that runs an event loop (where it would hold every request of its process)."""
    seen: list[bool] = []

    def note(conn, cursor, statement: str, *args: object) -> None:  # type: ignore[no-untyped-def]
        if "FROM account" in statement:
            try:
                asyncio.get_running_loop()
                seen.append(True)
            except RuntimeError:
                seen.append(False)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


def test_a_callback_signed_after_the_token_cache_lapsed_reads_the_account_off_the_event_loop(stack):
    service = make_service(stack, US_SENDER, mps=10)
    callback = stack.app.url("/status")
    stack.app_state.accounts.cache_seconds = 0.0  # every token lookup reads the account
    with account_reads_on_a_loop() as reads:
        stack.client().messages.create(
            messaging_service_sid=service.sid, to=US_MOBILE, body="hi", status_callback=callback
        )
        (call,) = stack.app.wait_for(lambda r: r.field("MessageStatus") == "delivered")
    assert RequestValidator(stack.auth_token).validate(callback, dict(call.form), call.headers["x-twilio-signature"])
    assert reads and not any(reads)


def test_undelivered_report_reaches_the_app_with_the_error_code(stack):
    _register(stack, US_SENDER, mps=10)
    callback = stack.app.url("/status")
    stack.client().messages.create(from_=US_SENDER, to="+447400999000", body="hi", status_callback=callback)
    [call] = stack.app.wait_for(lambda r: r.field("MessageStatus") == "undelivered")
    assert call.field("ErrorCode") == "30003"


def test_bulk_notifications_gate_each_binding(stack):
    service = make_service(stack, US_SENDER, mps=50)
    bindings = [f'{{"binding_type":"sms","address":"{n}"}}' for n in (US_MOBILE, "+15558675310", GB_MOBILE, "nonsense")]
    response = httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/Notifications",
        data={"ToBinding": bindings, "Body": "Office closed Monday"},
        auth=(stack.account_sid, stack.auth_token),
    )
    body = response.json()
    assert response.status_code == 201 and (body["accepted"], body["failed"]) == (2, 2)
    assert [r["error_code"] for r in body["results"]] == [None, 21211, None, 21211]
    wait_until(lambda: received_by(stack, US_MOBILE) and received_by(stack, GB_MOBILE))


def test_bulk_request_over_1_mb_is_413(stack):
    service = make_service(stack, US_SENDER)
    response = httpx.post(
        f"{stack.url}/v1/Services/{service.sid}/Notifications",
        data={"ToBinding": [US_MOBILE] * 10, "Body": "x" * (1024 * 1024)},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.status_code == 413 and response.json()["code"] == 21617


def test_removing_a_sender_from_the_pool_deletes_its_sticky_mappings(stack):
    """Twilio's rule: a mapping to a sender that left the pool is gone, and the next send routes afresh."""
    service = make_service(stack, US_SENDER, sticky_sender=True)
    auth = (stack.account_sid, stack.auth_token)
    stack.client().messages.create(messaging_service_sid=service.sid, to=GB_MOBILE, body="hi")
    mapping = httpx.get(f"{stack.url}/v1/Services/{service.sid}/StickySenders/{GB_MOBILE}", auth=auth).json()
    assert (
        httpx.delete(
            f"{stack.url}/v1/Services/{service.sid}/PhoneNumbers/{mapping['sender_sid']}", auth=auth
        ).status_code
        == 204
    )
    assert httpx.get(f"{stack.url}/v1/Services/{service.sid}/StickySenders/{GB_MOBILE}", auth=auth).status_code == 404
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(messaging_service_sid=service.sid, to=GB_MOBILE, body="again")
    assert error.value.code == 21703  # the pool is empty now
