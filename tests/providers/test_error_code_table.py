"""Every row of the published table (docs/provider-error-codes.md) holds: the provider's code fed
through its adapter's own parsing comes out as the row's Twilio code, and the table and the
adapters' tables list the same codes."""

from __future__ import annotations

import json
import re

import httpx2
import pytest

from gateway.providers import plivo, smpp, telnyx, vonage
from gateway.providers.base import RawRequest, Rejected, Retryable, parse_form
from tests.conftest import ROOT

TABLE = ROOT / "docs" / "provider-error-codes.md"


def rows(name: str) -> list[tuple[int, str]]:
    """(provider code, Twilio column) of the table marked `<!-- table: name -->`."""
    text = TABLE.read_text(encoding="utf-8")
    start = text.index(f"<!-- table: {name} -->")
    found = []
    for line in text[start:].splitlines()[3:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        found.append((int(cells[0]), cells[2] if len(cells) > 2 else cells[1]))
    return found


def twilio_code(column: str) -> int:
    return int(re.match(r"\d+", column).group())  # type: ignore[union-attr]


def form(fields: dict[str, str]) -> RawRequest:
    body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    return RawRequest("https://gw.example.com/webhooks/x/status", {}, body, parse_form(body))


def telnyx_finalized(code: int) -> RawRequest:
    body = json.dumps(
        {
            "data": {
                "event_type": "message.finalized",
                "payload": {
                    "id": "40318a1e",
                    "to": [{"phone_number": "+12015550123", "status": "delivery_failed"}],
                    "errors": [{"code": str(code), "title": "…"}],
                },
            }
        }
    ).encode()
    return RawRequest("https://gw.example.com/webhooks/telnyx/status", {}, body, ())


@pytest.mark.parametrize(("code", "column"), rows("telnyx"))
def test_a_telnyx_finalized_report_with_this_code_is_stored_as_the_tables_twilio_code(code, column):
    [event] = telnyx.PROVIDER.parse_status(telnyx_finalized(code))
    assert event.error_code == twilio_code(column)


@pytest.mark.parametrize(("code", "column"), rows("vonage-receipt"))
def test_a_vonage_receipt_with_this_err_code_is_stored_as_the_tables_twilio_code(code, column):
    [event] = vonage.PROVIDER.parse_status(
        form({"messageId": "0A000000", "status": "failed", "err-code": str(code), "client-ref": "SM" + "a" * 32})
    )
    assert event.error_code == twilio_code(column)


@pytest.mark.parametrize(("code", "column"), rows("vonage-send"))
def test_a_vonage_send_answered_with_this_status_is_rejected_with_the_tables_twilio_code_or_retried(code, column):
    response = httpx2.Response(200, json={"message-count": "1", "messages": [{"status": str(code), "error-text": "…"}]})
    with pytest.raises(Retryable if column == "retried" else Rejected) as raised:
        vonage.PROVIDER.read_send(response)
    if column != "retried":
        assert raised.value.code == twilio_code(column)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("code", "column"), rows("plivo") + rows("plivo-unpublished"))
def test_a_plivo_callback_with_this_error_code_is_stored_as_the_tables_twilio_code(code, column):
    [event] = plivo.PROVIDER.parse_status(form({"MessageUUID": "u1", "Status": "undelivered", "ErrorCode": str(code)}))
    assert event.error_code == twilio_code(column)


@pytest.mark.parametrize(("code", "column"), rows("smpp"))
def test_an_smpp_submit_refused_with_this_command_status_fails_with_the_tables_twilio_code(code, column):
    with pytest.raises(Rejected) as refused:
        smpp.read_submit(code, None, pause=1.0)
    assert refused.value.code == twilio_code(column)


@pytest.mark.parametrize(
    ("table", "mapping"),
    [
        ("telnyx", telnyx.ERRORS),
        ("vonage-receipt", vonage.RECEIPT_ERRORS),
        ("plivo", plivo.ERRORS),
        ("smpp", smpp.ERRORS),
    ],
)
def test_the_published_table_lists_exactly_the_codes_the_adapter_maps(table, mapping):
    assert sorted(code for code, _ in rows(table)) == sorted(mapping)


def test_the_published_vonage_send_table_lists_the_mapped_codes_and_the_retried_ones():
    listed = {code for code, column in rows("vonage-send") if column != "retried"}
    assert listed == set(vonage.SEND_ERRORS)
    assert {code for code, column in rows("vonage-send") if column == "retried"} == {1, 5}


def test_the_codes_plivo_publishes_no_meaning_for_are_not_guessed():
    assert not {code for code, _ in rows("plivo-unpublished")} & set(plivo.ERRORS)
