"""The opt-out API for compliance staff: /v1/OptOuts, its record per number and its CSV export."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.settings import Settings
from gateway.store.tables import Account
from tests.conftest import DE_MOBILE, FR_MOBILE, GB_MOBILE, JP_MOBILE, US_MOBILE

US_SENDER = "+12015550124"


@pytest.fixture
def app(settings: Settings) -> Starlette:
    """The gateway without workers (queued messages stay queued)."""
    return create_app(settings.with_(workers=False, simulator=False))


@pytest.fixture
def account(app: Starlette) -> Account:
    return app.state.accounts.create("compliance")


@pytest.fixture
def client(app: Starlette, account: Account) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        test_client.auth = (account.sid, account.auth_token)
        yield test_client


def opt_out(client: TestClient, number: str, **fields: str):  # type: ignore[no-untyped-def]
    response = client.post("/v1/OptOuts", data={"PhoneNumber": number, "Reason": "asked by phone", **fields})
    assert response.status_code == 201, response.text
    return response.json()


def send(client: TestClient, account: Account, to: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/2010-04-01/Accounts/{account.sid}/Messages.json",
        data={"From": US_SENDER, "To": to, "Body": "Your order shipped"},
    )


@pytest.fixture
def sender(client: TestClient, account: Account) -> str:
    """A registered sender number, so the account can send."""
    response = client.post(
        f"/2010-04-01/Accounts/{account.sid}/IncomingPhoneNumbers.json", data={"PhoneNumber": US_SENDER}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


def test_post_opts_a_number_out_account_wide_and_audits_it(client):
    """A staff opt-out without ServiceSid covers the account on SMS, with source api and the reason."""
    record = opt_out(client, FR_MOBILE, Reason="complaint by letter")
    assert [(s["scope"], s["channel"], s["state"]) for s in record["opt_outs"]] == [("account", "sms", "opted_out")]
    [event] = record["events"]
    assert (event["kind"], event["source"], event["reason"], event["scope"]) == (
        "opt_out",
        "api",
        "complaint by letter",
        "account",
    )
    assert event["date"].endswith("Z")


def test_list_shows_each_opt_out_in_v1_shape(client, account):
    """GET /v1/OptOuts lists the rows with v1 fields and a meta whose next_page_url is null on the last page."""
    opt_out(client, FR_MOBILE)
    opt_out(client, DE_MOBILE)
    body = client.get("/v1/OptOuts").json()
    assert {item["phone_number"] for item in body["opt_outs"]} == {FR_MOBILE, DE_MOBILE}
    item = body["opt_outs"][0]
    assert set(item) >= {"account_sid", "phone_number", "scope", "channel", "state", "date_updated"}
    assert item["account_sid"] == account.sid
    assert body["meta"]["key"] == "opt_outs" and body["meta"]["next_page_url"] is None


def test_list_filters_by_number_state_channel_and_scope(client):
    """Each filter narrows the list to the rows that match it exactly."""
    service = client.post("/v1/Services", data={"FriendlyName": "Acme Dental"}).json()["sid"]
    opt_out(client, FR_MOBILE)
    opt_out(client, DE_MOBILE, ServiceSid=service)
    opt_out(client, "whatsapp:" + JP_MOBILE)
    opt_out(client, GB_MOBILE)
    client.request("DELETE", f"/v1/OptOuts/{GB_MOBILE}", params={"Reason": "consent renewed"})

    def numbers(**params: str) -> set[str]:
        response = client.get("/v1/OptOuts", params=params)
        assert response.status_code == 200, response.text
        return {item["phone_number"] for item in response.json()["opt_outs"]}

    assert numbers(PhoneNumber=FR_MOBILE) == {FR_MOBILE}
    assert numbers(State="opted_in") == {GB_MOBILE}
    assert numbers(Channel="whatsapp") == {JP_MOBILE}
    assert numbers(ServiceSid=service) == {DE_MOBILE}
    assert numbers(ServiceSid="account", State="opted_out", Channel="sms") == {FR_MOBILE}


def test_list_pages_by_token_with_absolute_next_page_urls(client):
    """PageSize 2 over five rows gives three pages; following next_page_url visits each row once."""
    numbers = [US_MOBILE, FR_MOBILE, DE_MOBILE, GB_MOBILE, JP_MOBILE]
    for number in numbers:
        opt_out(client, number)
    seen, url, pages = [], "/v1/OptOuts?PageSize=2", 0
    while url:
        body = client.get(url).json()
        seen += [item["phone_number"] for item in body["opt_outs"]]
        url, pages = body["meta"]["next_page_url"], pages + 1
        assert url is None or url.startswith("http://testserver/v1/OptOuts?")
    assert pages == 3 and sorted(seen) == sorted(numbers)


def test_fetch_shows_states_and_history_newest_first(client):
    """GET /v1/OptOuts/{number} gives its state per scope and channel and its events, newest first."""
    opt_out(client, FR_MOBILE, Reason="first complaint")
    client.request("DELETE", f"/v1/OptOuts/{FR_MOBILE}", params={"Reason": "signed up again"})
    record = client.get(f"/v1/OptOuts/{FR_MOBILE}").json()
    assert [s["state"] for s in record["opt_outs"]] == ["opted_in"]
    assert [(e["kind"], e["reason"]) for e in record["events"]] == [
        ("opt_in", "signed up again"),
        ("opt_out", "first complaint"),
    ]
    assert set(record["events"][0]) == {
        "kind",
        "scope",
        "channel",
        "keyword",
        "language",
        "inbound_message_sid",
        "policy_revision",
        "source",
        "reason",
        "match",
        "exception",
        "date",
    }


def test_delete_opts_back_in_with_an_audited_reason(client):
    """DELETE with a Reason answers 200 with the number opted in and an api event carrying the reason."""
    opt_out(client, DE_MOBILE)
    response = client.request("DELETE", f"/v1/OptOuts/{DE_MOBILE}", params={"Reason": "written consent on file"})
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["opt_outs"][0]["state"] == "opted_in"
    assert (record["events"][0]["source"], record["events"][0]["reason"]) == ("api", "written consent on file")


def test_delete_of_a_number_not_opted_out_in_that_scope_is_404(client):
    """Lifting an opt-out that does not exist in the given scope is a 404, and records nothing."""
    service = client.post("/v1/Services", data={"FriendlyName": "Acme Dental"}).json()["sid"]
    opt_out(client, DE_MOBILE)
    response = client.request("DELETE", f"/v1/OptOuts/{DE_MOBILE}", params={"Reason": "x", "ServiceSid": service})
    assert (response.status_code, response.json()["code"]) == (404, 20404)
    assert len(client.get(f"/v1/OptOuts/{DE_MOBILE}").json()["events"]) == 1


def test_fetch_of_an_unknown_number_is_404(client):
    """A number the account has no record of is a 404."""
    response = client.get(f"/v1/OptOuts/{US_MOBILE}")
    assert (response.status_code, response.json()["code"]) == (404, 20404)


def test_post_with_another_accounts_service_is_404(client, app):
    """ServiceSid must be a service or sender of the caller's account."""
    other = app.state.accounts.create("other")
    foreign = client.post("/v1/Services", data={"FriendlyName": "Theirs"}, auth=(other.sid, other.auth_token))
    response = client.post(
        "/v1/OptOuts", data={"PhoneNumber": FR_MOBILE, "Reason": "x", "ServiceSid": foreign.json()["sid"]}
    )
    assert (response.status_code, response.json()["code"]) == (404, 20404)


def test_post_without_reason_is_400(client):
    """Reason is required: every staff change must say why."""
    response = client.post("/v1/OptOuts", data={"PhoneNumber": FR_MOBILE})
    assert response.status_code == 400 and "Reason" in response.json()["message"]


def test_delete_without_reason_is_400(client):
    """Lifting an opt-out also needs a Reason."""
    opt_out(client, FR_MOBILE)
    assert client.request("DELETE", f"/v1/OptOuts/{FR_MOBILE}").status_code == 400


def test_post_with_an_invalid_number_is_400_21211(client):
    """A number that is not valid E.164 is refused with 21211."""
    response = client.post("/v1/OptOuts", data={"PhoneNumber": "+15558675310", "Reason": "x"})
    assert (response.status_code, response.json()["code"]) == (400, 21211)


def test_list_with_an_unknown_state_is_400(client):
    """State takes opted_out or opted_in only."""
    assert client.get("/v1/OptOuts", params={"State": "unsubscribed"}).status_code == 400


def test_whatsapp_address_opts_out_the_whatsapp_channel_only(client):
    """whatsapp:+E164 opts out on WhatsApp and leaves SMS alone."""
    record = opt_out(client, "whatsapp:" + JP_MOBILE)
    assert [(s["phone_number"], s["channel"]) for s in record["opt_outs"]] == [(JP_MOBILE, "whatsapp")]


def test_another_account_sees_none_of_the_opt_outs(client, app):
    """A second account's list, fetch and export show nothing of the first account's opt-outs."""
    opt_out(client, FR_MOBILE)
    other = app.state.accounts.create("other")
    auth = (other.sid, other.auth_token)
    assert client.get("/v1/OptOuts", auth=auth).json()["opt_outs"] == []
    assert client.get(f"/v1/OptOuts/{FR_MOBILE}", auth=auth).status_code == 404
    assert client.get("/v1/OptOuts.csv", auth=auth).text.strip() == "phone_number,scope,channel,state,time,source"


def test_without_credentials_is_401(client):
    """The opt-out API needs the account's credentials."""
    assert client.get("/v1/OptOuts", auth=("AC" + "0" * 32, "wrong")).status_code == 401


def test_a_staff_opt_out_of_a_number_already_opted_out_records_nothing_more(client):
    """Consent events record changes: the second opt-out finds the number opted out and adds none."""
    opt_out(client, FR_MOBILE, Reason="complaint by letter")
    record = opt_out(client, FR_MOBILE, Reason="the same complaint, by email")
    assert [event["reason"] for event in record["events"]] == ["complaint by letter"]


def test_a_send_with_an_invalid_to_is_refused_with_21211_and_the_next_is_queued(client, account, sender):
    """The send batch's read-ahead skips a To it cannot parse; that send alone is refused."""
    assert (send(client, account, "+1555").json()["code"]) == 21211
    assert send(client, account, US_MOBILE).status_code == 201


def test_api_opt_out_makes_the_next_send_fail_21610(client, account, sender):
    """After a staff opt-out, sending to the number is refused with 21610."""
    assert send(client, account, US_MOBILE).status_code == 201
    opt_out(client, US_MOBILE)
    response = send(client, account, US_MOBILE)
    assert (response.status_code, response.json()["code"]) == (400, 21610)


def test_api_opt_out_cancels_the_queued_message(client, account, sender):
    """A message still queued to the number is canceled with 21610 by the opt-out."""
    sid = send(client, account, US_MOBILE).json()["sid"]
    opt_out(client, US_MOBILE)
    message = client.get(f"/2010-04-01/Accounts/{account.sid}/Messages/{sid}.json").json()
    assert (message["status"], message["error_code"]) == ("canceled", 21610)


def test_csv_export_lists_each_row_with_its_latest_source(client):
    """GET /v1/OptOuts.csv streams the header and one line per row, source from the latest event."""
    opt_out(client, FR_MOBILE)
    response = client.get("/v1/OptOuts.csv")
    assert response.headers["content-type"].startswith("text/csv")
    header, row = response.text.splitlines()
    assert header == "phone_number,scope,channel,state,time,source"
    assert row.startswith(f"{FR_MOBILE},account,sms,opted_out,") and row.endswith(",api")
