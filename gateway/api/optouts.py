"""Opt-outs for compliance staff (Twilio has no such API): list, fetch with history, add, lift, export.

v1 style: JSON in snake_case, `meta` paging with absolute URLs.  A scope is a Messaging Service
sid, a plain sender's sid, or `account` (stored as "*").  Single changes go through
`record_consent` in a writer job, exactly as an inbound STOP does, so they are audited with
source "api" and an opt-out cancels what is still waiting to go to the number.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from gateway.api.common import Form, authenticate, base_url, page_number, page_size, query_string, read, read_form
from gateway.compliance.gates import Address, parse_recipient
from gateway.compliance.optouts import ACCOUNT_WIDE, CHANNELS, Consent
from gateway.dates import iso8601, utcnow
from gateway.errors import BadRequest, InvalidTo, NotFound
from gateway.orchestration.consent import record_consent
from gateway.store.optouts import is_opted_out, number_events, number_states, states_page
from gateway.store.senders import is_scope
from gateway.transfer import (
    ACCOUNT_LABEL,
    STATES,
    csv_chunks,
    decode_cursor,
    encode_cursor,
    scope_label,
    state_label,
)


def opt_out_json(row: Any, base: str) -> dict[str, Any]:
    return {
        "account_sid": row.account_sid,
        "phone_number": row.number,
        "scope": scope_label(row.service_sid),
        "channel": row.channel,
        "state": state_label(row.opted_out),
        "date_updated": iso8601(row.date_updated),
        "url": f"{base}/v1/OptOuts/{row.number}",
    }


def event_json(row: Any) -> dict[str, Any]:
    return {
        "kind": "opt_out" if row.opted_out else "opt_in",
        "scope": scope_label(row.scope),
        "channel": row.channel,
        "keyword": row.keyword,
        "language": row.language,
        "inbound_message_sid": row.inbound_message_sid,
        "policy_revision": row.policy_revision,
        "source": row.source,
        "reason": row.reason,
        "match": row.match,
        "exception": row.exception,
        "date": iso8601(row.at),
    }


def number_record(session: Session, account_sid: str, number: str, base: str) -> dict[str, Any] | None:
    """The number's state in every scope and channel, and its consent events newest first."""
    connection = session.connection()
    states = number_states(connection, account_sid, number)
    events = number_events(connection, account_sid, number)
    if not states and not events:
        return None
    return {
        "account_sid": account_sid,
        "phone_number": number,
        "opt_outs": [opt_out_json(s, base) for s in states],
        "events": [event_json(e) for e in events],
        "url": f"{base}/v1/OptOuts/{number}",
    }


def _address(value: str | None) -> Address:
    """PhoneNumber as E.164 or whatsapp:+E164 (21211 when it is not a valid number)."""
    if not value:
        raise BadRequest("PhoneNumber is required.")
    try:
        return parse_recipient(value)
    except BadRequest:
        raise InvalidTo(f"PhoneNumber {value!r} is not a valid E.164 number (or whatsapp:+E164).") from None


def _channel(form: Form, address: Address | None) -> str | None:
    """Channel, or the one a whatsapp: prefix implies; they must agree."""
    named = form.get("Channel") or None
    if named is not None and named not in CHANNELS:
        raise BadRequest(f"Channel must be sms or whatsapp, not {named!r}.")
    implied = address.channel if address is not None and address.channel == "whatsapp" else None
    if named and implied and named != implied:
        raise BadRequest(f"{address.address if address else ''} is a WhatsApp address but Channel is {named}.")
    return named or implied


def _scope(session: Session, account_sid: str, value: str | None) -> str:
    """ServiceSid: absent or `account` means account-wide; otherwise a service or sender of the account (20404)."""
    if not value or value in (ACCOUNT_LABEL, ACCOUNT_WIDE):
        return ACCOUNT_WIDE
    if is_scope(session, account_sid, value):
        return value
    raise NotFound(f"The requested resource /v1/Services/{value} was not found")


def _reason(form: Form) -> str:
    reason = (form.get("Reason") or "").strip()
    if not reason:
        raise BadRequest("Reason is required: say why staff change this number's consent.")
    return reason


async def listing(request: Request) -> JSONResponse:
    """Opt-out rows in key order (scope, number, channel), keyset-paged; filters are exact."""
    account_sid = await authenticate(request)
    form = await read_form(request)
    size, page, after = page_size(form), page_number(form), decode_cursor(form.get("PageToken"))
    filters: list[tuple[str, str | None]] = []
    address = _address(form.get("PhoneNumber")) if form.get("PhoneNumber") else None
    if address is not None:
        filters.append(("PhoneNumber", address.address))
    channel = _channel(form, address)
    if form.get("Channel"):
        filters.append(("Channel", channel))
    state = form.get("State") or None
    if state is not None:
        if state not in STATES:
            raise BadRequest(f"State must be opted_out or opted_in, not {state!r}.")
        filters.append(("State", state))
    scope = form.get("ServiceSid") or None
    if scope is not None:
        filters.append(("ServiceSid", scope))
        scope = ACCOUNT_WIDE if scope == ACCOUNT_LABEL else scope
    rows = await read(
        request,
        states_page,
        account_sid,
        after=after,
        scope=scope,
        number=address.number if address else None,
        channel=channel,
        opted_out=STATES[state] if state else None,
        limit=size + 1,
    )
    more, rows = len(rows) > size, rows[:size]
    base = base_url(request)
    url = f"{base}/v1/OptOuts"
    paging = [*filters, ("PageSize", size)]
    next_url = None
    if more:
        last = rows[-1]
        token = encode_cursor((last.service_sid, last.number, last.channel))
        next_url = f"{url}?{query_string([*paging, ('Page', page + 1), ('PageToken', token)])}"
    current = [("PageToken", form.get("PageToken"))] if after is not None else []
    return JSONResponse(
        {
            "opt_outs": [opt_out_json(row, base) for row in rows],
            "meta": {
                "page": page,
                "page_size": size,
                "first_page_url": f"{url}?{query_string([*paging, ('Page', 0)])}",
                "previous_page_url": None,
                "next_page_url": next_url,
                "url": f"{url}?{query_string([*paging, ('Page', page), *current])}",
                "key": "opt_outs",
            },
        }
    )


async def fetch(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    address = _address(request.path_params["number"])
    record = await read(request, number_record, account_sid, address.number, base_url(request))
    if record is None:
        raise NotFound(f"The requested resource /v1/OptOuts/{address.number} was not found")
    return JSONResponse(record)


async def create(request: Request) -> JSONResponse:
    """Opt a number out for staff (a complaint, a letter): audited with source "api" and the reason."""
    account_sid = await authenticate(request)
    form = await read_form(request)
    return await _change(request, account_sid, form, form.get("PhoneNumber"), opted_out=True, status=201)


async def remove(request: Request) -> JSONResponse:
    """Opt a number back in for staff; 404 unless it was opted out in that scope and channel."""
    account_sid = await authenticate(request)
    form = Form(request.query_params.multi_items())
    return await _change(request, account_sid, form, request.path_params["number"], opted_out=False, status=200)


async def _change(
    request: Request, account_sid: str, form: Form, raw_number: str | None, *, opted_out: bool, status: int
) -> JSONResponse:
    address = _address(raw_number)
    channel = _channel(form, address) or "sms"
    reason = _reason(form)
    backlog = request.app.state.core.backlog

    def job(session: Session) -> list[str] | None:
        scope = _scope(session, account_sid, form.get("ServiceSid"))
        if not opted_out:
            if not is_opted_out(session.connection(), account_sid, scope, address.number, channel):
                raise NotFound(f"{address.number} is not opted out of {scope_label(scope)} on {channel}.")
        consent = Consent(account_sid, scope, address.number, channel, opted_out=opted_out, source="api", reason=reason)
        return record_consent(session, consent, now=utcnow(), backlog=backlog)

    await request.app.state.writer.run(job)
    if request.app.state.forwarder is not None:
        request.app.state.forwarder.notify()  # the canceled messages' status callbacks
    record = await read(request, number_record, account_sid, address.number, base_url(request))
    return JSONResponse(record, status_code=status)


async def export(request: Request) -> StreamingResponse:
    """The account's opt-outs as CSV, streamed a chunk of rows at a time (`transfer.csv_chunks`)."""
    account_sid = await authenticate(request)
    return StreamingResponse(
        csv_chunks(request.app.state.engine, account_sid),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="optouts.csv"'},
    )


ROUTES: list[Route] = [
    Route("/v1/OptOuts", listing, methods=["GET"]),
    Route("/v1/OptOuts", create, methods=["POST"]),
    Route("/v1/OptOuts.csv", export, methods=["GET"]),
    Route("/v1/OptOuts/{number}", fetch, methods=["GET"]),
    Route("/v1/OptOuts/{number}", remove, methods=["DELETE"]),
]
