"""The messages page: the account's messages newest first, filtered, and each one's event log."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlmodel import Session
from starlette.responses import Response

from gateway.api.common import int_or_none
from gateway.compliance.reasons import readable
from gateway.console.numbers import guess_regions, read_number
from gateway.console.web import Page
from gateway.errors import BadRequest, NotFound
from gateway.lifecycle import Status
from gateway.store import messages

DIRECTIONS = ("inbound", "outbound-api", "outbound-reply")
STATUSES = tuple(s.value for s in Status if s is not Status.UNKNOWN)


def encode_cursor(row: Any) -> str:
    return base64.urlsafe_b64encode(f"{row.date_created.isoformat()}|{row.seq}".encode()).decode()


def decode_cursor(token: str | None) -> tuple[datetime, int] | None:
    """A page's keyset (date_created, seq); a malformed token reads as the first page."""
    if not token:
        return None
    try:
        moment, _, seq = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        before, number = datetime.fromisoformat(moment), int_or_none(seq)
    except ValueError:
        return None
    return (before, number) if number is not None else None


def _with_events(session: Session, account_sid: str, sid: str) -> tuple[Any, list[Any]]:
    """The account's message `sid` (None if it has none) and its event log."""
    connection = session.connection()
    row = messages.message(connection, account_sid, sid)
    return row, messages.message_events(connection, sid) if row is not None else []


async def listing(page: Page) -> Response:
    params = page.request.query_params
    status = params.get("status") or None
    direction = params.get("direction") or None
    error = params.get("error", "").strip()
    error_code = int_or_none(error)
    if status not in (None, *STATUSES) or direction not in (None, *DIRECTIONS) or (error and error_code is None):
        raise BadRequest(page.gettext("Unknown filter value."))
    regions = guess_regions(None, page.request.headers.get("accept-language"), [])
    numbers = {}
    for name in ("to", "from"):
        typed = params.get(name, "").strip()
        if typed:
            found = read_number(typed, regions)
            if not found:
                raise BadRequest(page.gettext("%(number)s is not a valid phone number.", number=typed))
            numbers[name] = found[0]
    chosen = messages.MessageFilter(
        status=status,
        direction=direction,
        error_code=error_code,
        to=numbers.get("to"),
        sender=numbers.get("from"),
        before=decode_cursor(params.get("before")),
    )
    rows = await page.read(messages.recent_messages, page.account_sid, chosen)
    more, rows = len(rows) > messages.PAGE, rows[: messages.PAGE]
    return page.render(
        "messages.html",
        rows=rows,
        next_cursor=encode_cursor(rows[-1]) if more else None,
        statuses=STATUSES,
        directions=DIRECTIONS,
        filters={
            "status": status or "",
            "direction": direction or "",
            "error": error,
            "to": params.get("to", ""),
            "from": params.get("from", ""),
        },
    )


async def detail(page: Page) -> Response:
    sid = page.request.path_params["sid"]
    row, events = await page.read(_with_events, page.account_sid, sid)
    if row is None:
        raise NotFound(page.gettext("No message %(sid)s in this account.", sid=sid))
    why = readable(row.reasons, page.languages.translations(page.language).gettext) if row.reasons else None
    return page.render("message.html", message=row, events=events, why=why)
