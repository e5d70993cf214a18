"""How sure an opt-out was, end to end: the app's forward carries `OptOutMatch` beside
`OptOutType`, and the consent event (and the opt-out API's history) records the same."""

from __future__ import annotations

import httpx

from tests.conftest import US_MOBILE
from tests.flows.test_inbound import forwards, inbound, service  # noqa: F401 (service is a fixture)
from tests.poll import wait_until


def _history(stack, number: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    response = httpx.get(f"{stack.url}/v1/OptOuts/{number}", auth=(stack.account_sid, stack.auth_token))
    response.raise_for_status()
    return list(response.json()["events"])


def test_a_stop_inside_a_sentence_reaches_the_app_as_embedded(stack, service):  # noqa: F811
    """A US reply with STOP as one word of a sentence opts out, and the app is told it was embedded."""
    inbound(stack, US_MOBILE, "I said STOP already")
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert (forward.field("OptOutType"), forward.field("OptOutMatch")) == ("STOP", "embedded")
    [event] = _history(stack, US_MOBILE)
    assert (event["keyword"], event["match"], event["exception"]) == ("STOP", "embedded", None)


def test_a_bare_stop_reaches_the_app_as_exact(stack, service):  # noqa: F811
    """The whole message being the keyword is the sure case: OptOutMatch=exact."""
    inbound(stack, US_MOBILE, "Stop")
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert (forward.field("OptOutType"), forward.field("OptOutMatch")) == ("STOP", "exact")
    assert [e["match"] for e in _history(stack, US_MOBILE)] == ["exact"]


def test_cancel_my_appointment_reaches_the_app_without_opting_out(stack, service):  # noqa: F811
    """The dental patient's everyday reply is forwarded as a message, records nothing, and texting goes on."""
    inbound(stack, US_MOBILE, "Can I cancel my appointment for Tuesday?")
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert forward.field("OptOutType") is None and forward.field("OptOutMatch") is None
    response = httpx.get(f"{stack.url}/v1/OptOuts/{US_MOBILE}", auth=(stack.account_sid, stack.auth_token))
    assert response.status_code == 404
    assert stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="See you Tuesday").sid


def test_an_opt_out_past_an_exception_is_recorded_with_that_exception(stack, service):  # noqa: F811
    """'cancel my appointment and stop texting me' opts out by its phrase; the event names the exception met."""
    inbound(stack, US_MOBILE, "cancel my appointment and stop texting me")
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert (forward.field("OptOutType"), forward.field("OptOutMatch")) == ("STOP", "phrase")
    [event] = _history(stack, US_MOBILE)
    assert (event["keyword"], event["match"], event["exception"]) == ("STOP TEXTING", "phrase", "CANCEL MY APPOINTMENT")


def test_a_stop_with_a_zero_width_space_inside_opts_out(stack, service):  # noqa: F811
    """'S\\u200bTOP' through Twilio's webhook opts the person out: the invisible character is dropped."""
    inbound(stack, US_MOBILE, "S\u200bTOP")
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert (forward.field("OptOutType"), forward.field("OptOutMatch")) == ("STOP", "exact")
    assert [e["keyword"] for e in _history(stack, US_MOBILE)] == ["STOP"]


def test_a_stop_with_a_soft_hyphen_inside_opts_out(stack, service):  # noqa: F811
    """'ST\\u00adOP' through Twilio's webhook opts the person out."""
    inbound(stack, US_MOBILE, "ST\u00adOP")
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert forward.field("OptOutType") == "STOP"
    assert [e["keyword"] for e in _history(stack, US_MOBILE)] == ["STOP"]


def test_a_stop_in_cyrillic_lookalike_letters_opts_out_under_the_shipped_policy(stack, service):  # noqa: F811
    """'ЅТОР' (Cyrillic Ѕ, Т, О, Р) opts out: the shipped policy leaves confusables on for English."""
    inbound(stack, US_MOBILE, "ЅТОР")
    [forward] = wait_until(lambda: forwards(stack, US_MOBILE))
    assert forward.field("OptOutType") == "STOP"
    assert [e["keyword"] for e in _history(stack, US_MOBILE)] == ["STOP"]
