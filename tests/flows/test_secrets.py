"""Auth tokens never reach the logs, on a path that uses them every way: created, authenticated, and
signing a forward to the app."""

from __future__ import annotations

import logging

import httpx
from twilio.request_validator import RequestValidator

from tests.conftest import US_MOBILE
from tests.flows.test_inbound import inbound
from tests.flows.test_outbound import US_SENDER


def test_an_accounts_token_is_in_no_log_line_while_it_authenticates_and_signs_a_forward(stack, caplog):
    """Every logger at DEBUG (SQL statements with their parameters included) while a new account registers a
    number and a service, and an inbound message is forwarded signed with its token: the token appears nowhere."""
    caplog.set_level(logging.DEBUG)
    account = stack.app_state.accounts.create("Acme")
    auth = (account.sid, account.auth_token)
    base = f"{stack.url}/2010-04-01/Accounts/{account.sid}"
    number = httpx.post(f"{base}/IncomingPhoneNumbers.json", data={"PhoneNumber": US_SENDER}, auth=auth)
    service = httpx.post(
        f"{stack.url}/v1/Services",
        auth=auth,
        data={"FriendlyName": "Acme Dental", "InboundRequestUrl": stack.app.url("/acme")},
    )
    httpx.post(
        f"{stack.url}/v1/Services/{service.json()['sid']}/PhoneNumbers",
        auth=auth,
        data={"PhoneNumberSid": number.json()["sid"]},
    ).raise_for_status()
    assert inbound(stack, US_MOBILE, "Running late, see you at 10").status_code == 200
    [forward] = stack.app.wait_for(lambda r: r.path == "/acme")
    assert RequestValidator(account.auth_token).validate(
        forward.url, dict(forward.form), forward.headers["x-twilio-signature"]
    )
    assert caplog.records  # the loggers were heard
    assert account.auth_token not in caplog.text
    assert not [r for r in caplog.records if account.auth_token in repr(r.args)]
