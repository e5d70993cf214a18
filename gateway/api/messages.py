"""Twilio's Messages resource (2010-04-01): create, fetch, list."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.api import media
from gateway.api.common import (
    Form,
    app_url,
    authenticate,
    decode_token,
    encode_token,
    page_number,
    page_size,
    query_string,
    read,
    read_form,
    traffic_type,
)
from gateway.compliance.gates import (
    check_content,
    check_schedule,
    check_sender_syntax,
    check_validity,
    parse_recipient,
)
from gateway.dates import parse_iso8601, rfc2822, utcnow
from gateway.dispatch import explain
from gateway.dispatch.submit import SendRequest
from gateway.errors import BadRequest, FromRequired, NotFound, ServiceNotFound
from gateway.lifecycle import SCHEDULED_BY_APP, Hold, Status
from gateway.media import unpack
from gateway.orchestration.core import Core
from gateway.outbox.payloads import API_VERSION
from gateway.settings import Settings
from gateway.store.messages import account_message, message_page
from gateway.store.tables import Message


def message_json(message: Message, *, status: str | None = None, hide_sender: bool = False) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": rfc2822(message.date_sent),
        "date_updated": rfc2822(message.date_updated),
        "direction": message.direction,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": None if hide_sender else message.sender,
        "messaging_service_sid": message.service_sid,
        "num_media": str(len(unpack(message.media))),
        "num_segments": str(message.num_segments),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": status or message.status,
        "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
        "to": message.to,
        "uri": f"{uri}.json",
    }


def send_request(account_sid: str, form: Form, settings: Settings, now: datetime) -> SendRequest:
    """The gate's syntax checks, in Twilio's order, before anything touches the database; a send
    scheduled (`ScheduleType=fixed`, `SendAt`) carries its hold, checked against `now`."""
    to = form.get("To")
    recipient = parse_recipient(to)
    sender = form.get("From") or None
    service_sid = form.get("MessagingServiceSid") or None
    if sender is None and service_sid is None:
        raise FromRequired("A 'From' phone number or a 'MessagingServiceSid' is required.")
    body = form.get("Body") or ""
    media = tuple(form.getlist("MediaUrl"))
    check_content(body, media)
    validity = form.integer("ValidityPeriod", -(2**31), 2**31)
    check_validity(validity)
    send_at = check_schedule(
        form.get("ScheduleType") or None,
        form.get("SendAt") or None,
        service_sid=service_sid,
        now=now,
        minimum=timedelta(seconds=settings.schedule_min_seconds),
    )
    return SendRequest(
        account_sid=account_sid,
        to=recipient.address,
        body=body,
        sender=check_sender_syntax(sender) if sender else None,
        service_sid=service_sid,
        media_urls=media,
        status_callback=app_url(form, "StatusCallback", settings),
        validity_period=validity,
        smart_encoded=form.boolean("SmartEncoded"),
        traffic_type=traffic_type(form),
        hold=Hold(send_at, SCHEDULED_BY_APP) if send_at is not None else None,
    )


async def create(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    send = send_request(account_sid, await read_form(request), request.app.state.settings, utcnow())
    send = await media.checked(request, send)
    core: Core = request.app.state.core
    message = await core.send(send)
    via_service = send.service_sid is not None and send.sender is None
    accepted = via_service and message.status == Status.QUEUED.value  # Twilio's word until a sender is chosen
    body = message_json(message, status="accepted" if accepted else None, hide_sender=via_service)
    return JSONResponse(body, status_code=201)


async def update(request: Request) -> JSONResponse:
    """Cancel a scheduled message: `Status=canceled`, the only update of a message's status Twilio
    has (30409 once it is no longer scheduled); the gateway does not redact bodies (`Body`)."""
    account_sid = await authenticate(request)
    sid = request.path_params["sid"]
    form = await read_form(request)
    if form.get("Status") != Status.CANCELED.value or "Body" in form:
        await _own_message(request, account_sid, sid)  # another account's message is not found, whatever was asked
        raise BadRequest("A message can only be updated with Status=canceled, to cancel it while it is scheduled.")
    core: Core = request.app.state.core
    message = await core.cancel(account_sid, sid)
    if message is None:
        raise _not_found(account_sid, sid)
    return JSONResponse(message_json(message))


async def explain_send(request: Request) -> JSONResponse:
    """What a send with these parameters would do at `At` (default now) and why: the same gates,
    routing and encoding the send runs, writing nothing.  A send's syntax errors are answered as
    the send answers them; a refusal by a gate is an answer (200), naming its code."""
    account_sid = await authenticate(request)
    form = await read_form(request)
    at = form.get("At")
    try:
        moment = parse_iso8601(at) if at else None
    except ValueError:
        raise BadRequest(f"At must be an ISO 8601 date and time with its UTC offset, not {at!r}.") from None
    send = send_request(account_sid, form, request.app.state.settings, moment or utcnow())
    core: Core = request.app.state.core
    try:
        reasons = await core.explain(send, moment)
    except ServiceNotFound:
        raise NotFound(
            "The requested resource was not found: no Messaging Service of this account has this MessagingServiceSid."
        ) from None
    return JSONResponse(explain.for_request(send, reasons))


async def fetch_reasons(request: Request) -> JSONResponse:
    """The reasons a message's send recorded: what Explain answered, kept from the moment it was sent."""
    account_sid = await authenticate(request)
    sid = request.path_params["sid"]
    message = await read(request, account_message, account_sid, sid)
    if message is None or message.reasons is None:
        raise NotFound(
            "The requested resource was not found: no message of this account has this sid, or the "
            "gateway kept no reasons for it (inbound messages have none)"
        )
    return JSONResponse(explain.for_message(message))


async def fetch(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    return JSONResponse(message_json(await _own_message(request, account_sid, request.path_params["sid"])))


async def _own_message(request: Request, account_sid: str, sid: str) -> Message:
    """The account's message `sid`; 404 (20404) for another account's, as for none."""
    message = await read(request, account_message, account_sid, sid)
    if message is None:
        raise _not_found(account_sid, sid)
    return message


def _not_found(account_sid: str, sid: str) -> NotFound:
    return NotFound(f"The requested resource /{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json was not found")


async def listing(request: Request) -> JSONResponse:
    """Newest first, Twilio's paging: `next_page_uri` relative, with a PageToken, null on the last page."""
    account_sid = await authenticate(request)
    form = await read_form(request)
    size, page, cursor = page_size(form), page_number(form), decode_token(form.get("PageToken"))
    filters: list[tuple[str, str]] = [
        (name, value) for name in ("To", "From", "DateSent", "DateSent>", "DateSent<") if (value := form.get(name))
    ]
    chosen = dict(filters)
    sent_within = [_date_range(name, value) for name, value in filters if name.startswith("DateSent")]
    rows = await read(
        request,
        message_page,
        account_sid,
        to=chosen.get("To"),
        sender=chosen.get("From"),
        sent_within=sent_within,
        before_seq=cursor,
        limit=size + 1,
    )
    more, rows = len(rows) > size, rows[:size]
    base = f"/{API_VERSION}/Accounts/{account_sid}/Messages.json"
    paging = [*filters, ("PageSize", size)]
    first = f"{base}?{query_string([*paging, ('Page', 0)])}"
    next_uri = None
    if more and rows[-1].seq is not None:
        next_uri = f"{base}?{query_string([*paging, ('Page', page + 1), ('PageToken', encode_token(rows[-1].seq))])}"
    token = [("PageToken", form.get("PageToken"))] if cursor is not None else []
    current = f"{base}?{query_string([*paging, ('Page', page), *token])}"
    return JSONResponse(
        {
            "messages": [message_json(m) for m in rows],
            "end": page * size + len(rows) - 1 if rows else 0,
            "first_page_uri": first,
            "next_page_uri": next_uri,
            "page": page,
            "page_size": size,
            "previous_page_uri": None,
            "start": page * size,
            "uri": current,
        }
    )


def _date_range(name: str, value: str) -> tuple[datetime | None, datetime | None]:
    """The DateSent filter's (first, last) moments.  They accept `YYYY-MM-DD` (Twilio's docs) and full
    datetimes (what the SDK sends).  `DateSent` itself means a day, as at Twilio: the SDK turns
    `date_sent=date(…)` into that day's midnight, so a datetime there stands for its (UTC) day."""
    bound = {"DateSent>": "after", "DateSent<": "before"}.get(name)
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").date()
        else:
            start = end = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
            day = start.date()
        if bound is None or len(value) == 10:
            start = datetime.combine(day, time.min, tzinfo=UTC)
            end = datetime.combine(day, time.max, tzinfo=UTC)
    except ValueError:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 datetime, not {value!r}.") from None
    if bound == "after":
        return start, None
    if bound == "before":
        return None, end
    return start, end
