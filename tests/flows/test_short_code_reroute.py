"""Short Code Reroute: a short-code send the carrier cannot take goes out once from a long code of
the pool, as Twilio's Messaging Service does; a later failed or undelivered report is not rerouted."""

from __future__ import annotations

import httpx

from tests.flows.conftest import NO_SHORT_CODES, SHORT_CODE_UNREACHABLE
from tests.flows.test_outbound import make_service, received_by
from tests.flows.test_sender_pool import US_SHORT_CODE, add_short_code
from tests.poll import wait_until

LONG_CODE = "+13125550100"
NO_SHORT_CODE_MOBILE = NO_SHORT_CODES + "2"
UNREACHABLE_MOBILE = SHORT_CODE_UNREACHABLE + "2"


def _service_with_short_code(stack):  # type: ignore[no-untyped-def]
    service = make_service(stack, LONG_CODE)
    assert add_short_code(stack, service.sid, US_SHORT_CODE, "US").status_code == 201
    return service


def test_a_short_code_send_refused_for_the_carrier_goes_out_once_from_a_long_code_of_the_pool(stack):
    """21612 from the short code: the same message is sent once more, from the pool's long code, and delivered."""
    service = _service_with_short_code(stack)
    message = stack.client().messages.create(messaging_service_sid=service.sid, to=NO_SHORT_CODE_MOBILE, body="Hi")
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status == "delivered")
    [sent] = received_by(stack, NO_SHORT_CODE_MOBILE)
    assert (sent.sender, sent.idempotency_key) == (LONG_CODE, message.sid)
    fetched = stack.client().messages(message.sid).fetch()
    assert (fetched.from_, fetched.error_code) == (LONG_CODE, None)


def test_the_reroute_is_kept_in_the_messages_reasons_and_shown_by_explain(stack):
    """Explain names the short code, the provider's code and the long code the message went from."""
    service = _service_with_short_code(stack)
    message = stack.client().messages.create(messaging_service_sid=service.sid, to=NO_SHORT_CODE_MOBILE, body="Hi")
    assert wait_until(lambda: received_by(stack, NO_SHORT_CODE_MOBILE))
    response = httpx.get(f"{stack.url}/v1/Messages/{message.sid}/Explain", auth=(stack.account_sid, stack.auth_token))
    assert response.status_code == 200, response.text
    explained = response.json()
    assert explained["route"]["sender"] == US_SHORT_CODE
    [reroute] = [gate for gate in explained["gates"] if gate["gate"] == "short_code_reroute"]
    assert (reroute["sender"], reroute["kind"]) == (LONG_CODE, "long_code")
    assert "21612" in reroute["reason"] and US_SHORT_CODE in reroute["reason"]


def test_a_later_undelivered_report_on_a_short_code_send_is_not_rerouted(stack):
    """The short code's send was accepted and later reported undelivered (30006): it stays undelivered, sent once."""
    service = _service_with_short_code(stack)
    message = stack.client().messages.create(messaging_service_sid=service.sid, to=UNREACHABLE_MOBILE, body="Hi")
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status == "undelivered")
    fetched = stack.client().messages(message.sid).fetch()
    assert (fetched.from_, fetched.error_code) == (US_SHORT_CODE, 30006)
    assert [r.sender for r in received_by(stack, UNREACHABLE_MOBILE)] == [US_SHORT_CODE]


def test_a_short_code_the_app_named_as_from_is_not_rerouted(stack):
    """From names the short code: no sender selection, so the refusal stands (21612, failed)."""
    service = _service_with_short_code(stack)
    message = stack.client().messages.create(
        messaging_service_sid=service.sid, from_=US_SHORT_CODE, to=NO_SHORT_CODE_MOBILE, body="Hi"
    )
    assert wait_until(lambda: stack.client().messages(message.sid).fetch().status == "failed")
    assert stack.client().messages(message.sid).fetch().error_code == 21612
    assert received_by(stack, NO_SHORT_CODE_MOBILE) == []
