"""Bad input on the API: each is a clear 4xx in Twilio's error shape, stores nothing, and the app
answers the next good request as before (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel
from starlette.testclient import TestClient

from tests.conftest import US_MOBILE

OUR_SHORT_CODE = "12345"
SQL = "'; DROP TABLE message;--"


class Account:
    def __init__(self, client: TestClient) -> None:
        created = client.app.state.accounts.create("bad input")  # type: ignore[attr-defined]
        self.client, self.sid, self.auth = client, created.sid, (created.sid, created.auth_token)
        self.messages = f"/2010-04-01/Accounts/{self.sid}/Messages.json"
        service = self.post("/v1/Services", {"FriendlyName": "Acme Dental"})
        assert service.status_code == 201, service.text
        self.service = service.json()["sid"]
        member = self.post(
            f"/v1/Services/{self.service}/ShortCodes", {"ShortCode": OUR_SHORT_CODE, "CountryCode": "US"}
        )
        assert member.status_code == 201, member.text

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, data=data, auth=self.auth, **kwargs)

    def send(self, to: str = US_MOBILE, body: str = "See you Tuesday") -> Any:
        return self.post(self.messages, {"To": to, "Body": body, "MessagingServiceSid": self.service})

    def rows(self) -> dict[str, int]:
        """Rows in every table, to show that a refused request changed nothing."""
        engine = self.client.app.state.engine  # type: ignore[attr-defined]
        with Session(engine) as session:
            return {
                table.name: session.execute(select(func.count()).select_from(table)).scalar_one()
                for table in SQLModel.metadata.sorted_tables
                if table.name != "policy_revision"
            }


@pytest.fixture
def account(client: TestClient) -> Account:
    return Account(client)


def assert_refused(response: Any, status: int, code: int | None = None) -> None:
    """A Twilio-shaped error with this status (and code)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"code", "message", "more_info", "status"} and body["status"] == status
    if code is not None:
        assert body["code"] == code


def assert_still_serving(account: Account) -> None:
    """The next good send is accepted: nothing broke."""
    assert account.send().status_code == 201


@pytest.mark.parametrize(
    "to",
    [
        "+1 (202) 555-0123",
        "00442071838750",
        "tel:+12025550123",
        "+1202555CALL",
        "1" * 30,
        "+" + "1" * 30,
        SQL,
        "whatsapp:",
        "whatsapp:+1 202 555 0123",
    ],
)
def test_a_recipient_in_an_odd_format_is_21211_and_stores_nothing(account: Account, to: str) -> None:
    """Only E.164 (optionally whatsapp:-prefixed) is a recipient; anything else is 21211 and no message."""
    before = account.rows()
    assert_refused(account.send(to=to), 400, 21211)
    assert account.rows() == before
    assert_still_serving(account)


def test_an_empty_recipient_is_21604(account: Account) -> None:
    """No To at all is Twilio's 21604."""
    before = account.rows()
    assert_refused(account.send(to=""), 400, 21604)
    assert account.rows() == before


@pytest.mark.parametrize("body", [b"To=%2B12015550123&Body=caf%E9", b"To=%2B12015550123&Body=caf\xe9"])
def test_a_form_that_is_not_utf8_is_400_and_stores_nothing(account: Account, body: bytes) -> None:
    """Bytes that are not UTF-8, escaped or raw, are refused rather than stored as replacement characters."""
    before = account.rows()
    response = account.post(
        account.messages,
        content=body + f"&MessagingServiceSid={account.service}".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_refused(response, 400)
    assert account.rows() == before
    assert_still_serving(account)


@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [
        ("messages", "Body", {"To": US_MOBILE}),
        ("/v1/Services", "FriendlyName", {}),
        ("/v1/OptOuts", "Reason", {"PhoneNumber": US_MOBILE}),
    ],
)
@pytest.mark.parametrize("control", ["\x00", "\x07", "\x1b", "\x7f"])
def test_a_control_character_in_a_field_is_400_and_stores_nothing(
    account: Account, path: str, field: str, extra: dict[str, str], control: str
) -> None:
    """NUL (which PostgreSQL cannot store), BEL, ESC or DEL in a text field is refused before anything is written."""
    before = account.rows()
    data = {**extra, field: f"Acme{control}Dental", "MessagingServiceSid": account.service}
    assert_refused(account.post(account.messages if path == "messages" else path, data), 400, 21100)
    assert account.rows() == before
    assert_still_serving(account)


def test_tabs_and_newlines_are_text(account: Account) -> None:
    """Tab, newline and carriage return are not control characters to refuse: a body may hold lines."""
    response = account.send(body="Line one\r\nLine two\tend")
    assert response.status_code == 201, response.text
    assert response.json()["body"].startswith("Line one\r\nLine two")


@pytest.mark.parametrize(
    ("path", "field", "extra", "code"),
    [
        ("messages", "Body", {"To": US_MOBILE}, 21617),
        ("/v1/Services", "FriendlyName", {}, 21100),
        ("/v1/OptOuts", "Reason", {"PhoneNumber": US_MOBILE}, 21100),
        ("/v1/OptOuts", "PhoneNumber", {"Reason": "asked"}, 21100),
    ],
)
def test_a_10000_character_field_is_400_and_stores_nothing(
    account: Account, path: str, field: str, extra: dict[str, str], code: int
) -> None:
    """No field takes 10,000 characters (a Body that long is Twilio's 21617)."""
    before = account.rows()
    data = {**extra, field: "x" * 10_000, "MessagingServiceSid": account.service}
    assert_refused(account.post(account.messages if path == "messages" else path, data), 400, code)
    assert account.rows() == before
    assert_still_serving(account)


def test_a_body_over_1_mb_is_413_and_stores_nothing(account: Account) -> None:
    """A request body over the API's 1 MB limit is refused with 413."""
    before = account.rows()
    response = account.post(
        account.messages,
        content=b"Body=" + b"x" * (1024 * 1024 + 1),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_refused(response, 413)
    assert account.rows() == before
    assert_still_serving(account)


@pytest.mark.parametrize("content", [b'{"To": "+12015550123", "Body": "hi"', b"%%%&&&===", b"\x00\x01\x02"])
def test_json_or_garbage_where_a_form_is_expected_is_400(account: Account, content: bytes) -> None:
    """The API takes forms, as Twilio's does: a JSON body (even a broken one) or garbage has no To."""
    before = account.rows()
    response = account.post(account.messages, content=content, headers={"content-type": "application/json"})
    assert_refused(response, 400)
    assert account.rows() == before


@pytest.mark.parametrize(
    "path",
    [
        "/2010-04-01/Accounts/{account}/Messages/SM00000000000000000000000000000000.json",
        "/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/PN00000000000000000000000000000000.json",
        "/v1/Services/MG00000000000000000000000000000000",
        "/v1/Services/{service}/ShortCodes/SC00000000000000000000000000000000",
        "/v1/OptOuts/+12015550123",
        f"/2010-04-01/Accounts/{{account}}/Messages/{SQL}.json",
        f"/v1/Services/{SQL}",
    ],
)
def test_an_unknown_or_sql_looking_sid_is_404(account: Account, path: str) -> None:
    """A sid that names nothing of the account, however it is written, is Twilio's 20404."""
    response = account.client.get(path.format(account=account.sid, service=account.service), auth=account.auth)
    assert_refused(response, 404, 20404)


def test_a_sql_looking_filter_matches_nothing_and_drops_nothing(account: Account) -> None:
    """A filter value is data: `'; DROP TABLE message;--` finds no message, and the messages are still there."""
    assert account.send().status_code == 201
    listed = account.client.get(account.messages, params={"To": SQL}, auth=account.auth)
    assert listed.status_code == 200 and listed.json()["messages"] == []
    assert account.rows()["message"] == 1


@pytest.mark.parametrize("query", ["After=99999999999999999999999999", "After=²", "PageSize=²&After=1"])
def test_a_dead_letter_page_cursor_out_of_range_reads_as_the_first_page(account: Account, query: str) -> None:
    """A cursor no 64-bit id can hold, or written in other digits, is ignored instead of a 500."""
    response = account.client.get(f"/v1/DeadLetters?{query}", auth=account.auth)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("sid", ["99999999999999999999999999", "²"])
def test_replaying_a_dead_letter_id_out_of_range_is_404(account: Account, sid: str) -> None:
    """An id no dead letter can have is 20404, not a 500."""
    assert_refused(account.post(f"/v1/DeadLetters/{sid}/Replay"), 404, 20404)


def test_a_message_page_token_out_of_range_reads_as_the_first_page(account: Account) -> None:
    """A PageToken carrying a number no row can have (or a Page in other digits) lists from the start."""
    assert account.send().status_code == 201
    response = account.client.get(
        account.messages, params={"PageToken": "PA" + "9" * 30, "Page": "²"}, auth=account.auth
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["messages"]) == 1


@pytest.mark.parametrize(
    "number",
    [
        "+1 (202) 555-0142",
        "+1202555CALL",
        "+12025550142\u200b",
        "00442071838750",
        "tel:+12025550142",
        "1" * 30,
        SQL,
        "",
    ],
)
def test_registering_a_number_in_an_odd_format_is_21421_and_stores_nothing(account: Account, number: str) -> None:
    """Only E.164 registers: another spelling of a number would dodge the one-owner rule and never match a
    webhook's To."""
    before = account.rows()
    response = account.post(f"/2010-04-01/Accounts/{account.sid}/IncomingPhoneNumbers.json", {"PhoneNumber": number})
    assert_refused(response, 400, 21421)
    assert account.rows() == before
