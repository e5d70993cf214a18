"""A failure nobody foresaw is answered in Twilio's JSON shape, logged under a reference, and leaves
the caller's keep-alive connection open for the next request."""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import urlencode, urlsplit

import pytest
from twilio.base.exceptions import TwilioRestException

import gateway.dispatch.submit
from tests.conftest import US_MOBILE
from tests.flows.test_outbound import make_service

US_SENDER = "+12015550124"


def break_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the segment counter raise inside the send path, as a bug there would."""

    def broken(text: str, smart: bool = False) -> None:
        raise RuntimeError("forced failure in the send path")

    monkeypatch.setattr(gateway.dispatch.submit, "segment", broken)


def test_an_unexpected_error_answers_json_500_with_a_reference_that_is_logged(stack, monkeypatch, caplog):
    """The SDK sees 500 and code 20500; the reference in the message names the logged traceback."""
    service = make_service(stack, US_SENDER)
    break_sends(monkeypatch)
    with pytest.raises(TwilioRestException) as error:
        stack.client().messages.create(messaging_service_sid=service.sid, to=US_MOBILE, body="hi")
    assert (error.value.status, error.value.code) == (500, 20500)
    reference = error.value.msg.rsplit(" ", 1)[-1].rstrip(".")
    [logged] = [r for r in caplog.records if r.name == "gateway" and reference in r.getMessage()]
    assert logged.exc_info is not None and "forced failure" in str(logged.exc_info[1])


def test_the_connection_serves_the_next_request_after_an_unexpected_error(stack, monkeypatch):
    """The same keep-alive connection that got the 500 carries the next send, which is accepted."""
    service = make_service(stack, US_SENDER)
    url = urlsplit(stack.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    connection.auto_open = 0  # a connection the server closed raises instead of being reopened
    connection.connect()
    credentials = base64.b64encode(f"{stack.account_sid}:{stack.auth_token}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/x-www-form-urlencoded"}
    path = f"/2010-04-01/Accounts/{stack.account_sid}/Messages.json"
    body = urlencode({"MessagingServiceSid": service.sid, "To": US_MOBILE, "Body": "hi"})

    break_sends(monkeypatch)
    connection.request("POST", path, body, headers)
    failed = connection.getresponse()
    answer = json.loads(failed.read())
    assert (failed.status, failed.getheader("content-type"), answer["code"]) == (500, "application/json", 20500)
    assert failed.getheader("connection") != "close"

    monkeypatch.undo()
    connection.request("POST", path, body, headers)
    accepted = connection.getresponse()
    assert accepted.status == 201 and json.loads(accepted.read())["status"] == "accepted"
    connection.close()
