"""A status callback carries `ErrorCode` whenever its message has one, as Twilio's do: for
`canceled` (an opt-out's 21610, so an app tells it from its own cancellation), `failed` and
`undelivered` (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.conftest import US_MOBILE
from tests.flows.test_inbound import inbound
from tests.flows.test_outbound import US_SENDER, _register
from tests.flows.test_scheduling import schedule, service  # noqa: F401  (the scheduling fixture)
from tests.poll import wait_until


def status_callbacks(stack, sid: str):  # type: ignore[no-untyped-def]
    return [r for r in stack.app.received if r.path == "/status" and r.field("MessageSid") == sid]


def test_a_scheduled_message_an_opt_out_cancels_reports_canceled_with_error_code_21610(clock, stack, service):  # noqa: F811
    message = schedule(stack, service, US_MOBILE, "Your appointment is tomorrow")
    assert inbound(stack, US_MOBILE, "STOP").status_code == 200
    [callback] = wait_until(lambda: status_callbacks(stack, message.sid))
    assert (callback.field("MessageStatus"), callback.field("ErrorCode")) == ("canceled", "21610")
    assert stack.client().messages(message.sid).fetch().error_code == 21610


def test_a_message_the_app_cancels_itself_reports_canceled_without_an_error_code(clock, stack, service):  # noqa: F811
    message = schedule(stack, service, US_MOBILE, "Your appointment is tomorrow")
    stack.client().messages(message.sid).update(status="canceled")
    [callback] = wait_until(lambda: status_callbacks(stack, message.sid))
    assert callback.field("MessageStatus") == "canceled" and "ErrorCode" not in dict(callback.form)


def test_a_message_the_provider_refuses_reports_failed_with_its_error_code(stack):
    _register(stack, US_SENDER, mps=10)
    sid = (
        stack.client()
        .messages.create(from_=US_SENDER, to="+33699123456", body="bonjour", status_callback=stack.app.url("/status"))
        .sid
    )
    [callback] = wait_until(lambda: status_callbacks(stack, sid))
    assert (callback.field("MessageStatus"), callback.field("ErrorCode")) == ("failed", "21614")


def test_a_message_the_carrier_cannot_deliver_reports_undelivered_with_its_error_code(stack):
    _register(stack, US_SENDER, mps=10)
    sid = (
        stack.client()
        .messages.create(from_=US_SENDER, to="+447400999000", body="hi", status_callback=stack.app.url("/status"))
        .sid
    )
    callback = wait_until(
        lambda: [r for r in status_callbacks(stack, sid) if r.field("MessageStatus") == "undelivered"]
    )[0]
    assert callback.field("ErrorCode") == "30003"
