"""What every app-facing route shares: auth, form parsing, Twilio's dates and paging."""

from __future__ import annotations

import base64
import math
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode

from sqlmodel import Session, SQLModel
from starlette.requests import Request

from gateway.compliance.quiet_hours import TrafficType
from gateway.errors import (
    BadRequest,
    BodyTooLong,
    InvalidStatusCallback,
    InvalidUrl,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
)
from gateway.forwarding.destinations import destinations
from gateway.settings import Settings
from gateway.store import reads

T = TypeVar("T")
P = ParamSpec("P")
MAX_BODY = 1024 * 1024
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_INTEGER = 2**63 - 1  # the largest value of a BIGINT column
MAX_FIELD = 4096  # characters in one form value: more than any field needs (Body: 1600)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # C0 controls and DEL, except tab, LF and CR
#: The fields holding an app's URL, each with the error that refuses it (also when too long for a field).
URL_FIELDS: dict[str, type[BadRequest]] = {
    "StatusCallback": InvalidStatusCallback,
    "InboundRequestUrl": InvalidUrl,
    "FallbackUrl": InvalidUrl,
    "SmsUrl": InvalidUrl,
}


class Form:
    """Form fields as sent, repeated keys kept (`MediaUrl`, `ToBinding`)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.pairs:
            if key == name:
                return value
        return default

    def getlist(self, name: str) -> list[str]:
        return [value for key, value in self.pairs if key == name]

    def __contains__(self, name: str) -> bool:
        return any(key == name for key, _ in self.pairs)

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.get(name)
        if value is None or value == "":
            return default
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise BadRequest(f"{name} must be true or false, not {value!r}.")

    def integer(self, name: str, low: int, high: int, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f"{name} must be an integer, not {value!r}.") from None
        if not low <= number <= high:
            raise BadRequest(f"{name} must be between {low} and {high}.")
        return number


async def read_body(request: Request, limit: int, too_large: str) -> bytes:
    """The request's body, refused with 413 as soon as it is known to exceed `limit` bytes (declared,
    or while streaming a chunked body): an oversized body is never read whole."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(too_large)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(too_large)
    return bytes(body)


async def read_form(request: Request) -> Form:
    """The request's form fields (body for POST, query for GET); bodies over 1 MB are refused (413),
    and so is what no field may hold (400): bytes that are not UTF-8, control characters, a value
    over MAX_FIELD characters.  Nothing is stored from such a request."""
    if request.method == "GET":
        return Form(checked_fields(request.query_params.multi_items()))
    body = await read_body(request, MAX_BODY, "The request body is larger than 1 MB.")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8.") from None
    return Form(checked_fields(pairs))


def checked_fields(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The fields, once none holds a control character (NUL cannot even be stored in PostgreSQL; tab,
    newline and carriage return are text) or more than MAX_FIELD characters (a Body that long is
    Twilio's 21617)."""
    for name, value in pairs:
        if CONTROL.search(name) or CONTROL.search(value):
            raise BadRequest(f"The field {name[:64]!r} contains a control character.")
        if len(value) > MAX_FIELD:
            error = BodyTooLong if name == "Body" else URL_FIELDS.get(name, BadRequest)
            raise error(f"The field {name[:64]!r} is longer than {MAX_FIELD} characters.")
    return pairs


def app_url(form: Form, name: str, settings: Settings) -> str | None:
    """The form's `name`, a URL the gateway will call (None when absent or empty), once the callback
    destination policy (`forwarding.destinations`) lets it be saved; refused with its field's code."""
    value = form.get(name) or None
    if value is not None and (reason := destinations(settings).check_url(value)) is not None:
        raise URL_FIELDS[name](f"Invalid '{name}' URL: {reason}.")
    return value


def signed_in(request: Request) -> str:
    """The AccountSid of the request's Basic credentials (API and console alike); 401 otherwise,
    429 once its client address has failed too often (`accounts.SignIns`)."""
    address = request.client.host if request.client is not None else ""
    account_sid: str = request.app.state.sign_ins.authenticate(
        request.headers.get("authorization"), address, time.monotonic()
    )
    return account_sid


async def authenticate(request: Request) -> str:
    """The caller's AccountSid; the path's AccountSid, if any, must be the caller's (else 20404).
    Every authenticated request counts against the account's rate limit, shared by every process
    (429 beyond it; `gateway.budgets`)."""
    account_sid = signed_in(request)
    limiter = request.app.state.rate_limiter
    wait = await limiter.take(account_sid)
    if wait:
        raise TooManyRequests(
            f"Too Many Requests: this account may make {limiter.rate:g} API requests per second "
            f"(GATEWAY_API_RATE_LIMIT) and {limiter.burst} at once.",
            math.ceil(wait),
        )
    in_path = request.path_params.get("account_sid")
    if in_path is not None and in_path != account_sid:
        raise NotFound(f"The requested resource /Accounts/{in_path} was not found.")
    return str(account_sid)


async def write_change(request: Request, job: Callable[[Session], T]) -> T:
    """Run a job that changes services, pools or senders; routing's caches are cleared in the
    same writer step, so the next send sees the change."""
    core = request.app.state.core

    def changing(session: Session) -> T:
        result = job(session)
        core.changed(session)
        return result

    result: T = await request.app.state.writer.run(changing)
    return result


async def read(request: Request, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`fn(session, ...)` off the event loop (`store.reads`): the only way routes read the database,
    so a slow page never holds the webhooks and sends of this process."""
    return await reads.read(request.app.state.engine, fn, *args, **kwargs)


def base_url(request: Request) -> str:
    """The gateway's URL as the caller reached it: v1 resources answer with absolute URLs."""
    return str(request.base_url).rstrip("/")


def v1_page(key: str, items: list[dict[str, Any]], url: str) -> dict[str, Any]:
    """Messaging v1 paging: `meta.next_page_url` absolute, null on the last page (all items fit one page here)."""
    return {
        key: items,
        "meta": {
            "page": 0,
            "page_size": max(len(items), 1),
            "first_page_url": url,
            "previous_page_url": None,
            "next_page_url": None,
            "url": url,
            "key": key,
        },
    }


M = TypeVar("M", bound=SQLModel)


def owned(session: Session, model: type[M], account_sid: str, sid: str) -> M:
    """The row `sid` of `model` when it belongs to the caller's account; 20404 otherwise."""
    row = session.get(model, sid)
    if row is None or getattr(row, "account_sid", None) != account_sid:
        raise NotFound(f"The requested resource {sid} was not found")
    return row


def page_size(form: Form) -> int:
    """PageSize, clamped to 1..1000 as the SDKs expect (they send list(limit=2000) unclamped)."""
    raw = form.get("PageSize")
    try:
        size = int(raw) if raw else DEFAULT_PAGE_SIZE
    except ValueError:
        size = DEFAULT_PAGE_SIZE
    return max(1, min(MAX_PAGE_SIZE, size))


def int_or_none(raw: str | None) -> int | None:
    """A non-negative integer written in ASCII digits that fits a 64-bit column, else None: `str.isdigit`
    alone lets `"²"` through to a ValueError, and a longer number overflows the database driver."""
    if not raw or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value <= MAX_INTEGER else None


def page_number(form: Form) -> int:
    return int_or_none(form.get("Page")) or 0


def encode_token(cursor: int) -> str:
    return "PA" + base64.urlsafe_b64encode(str(cursor).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> int | None:
    """The row cursor a PageToken carries; a malformed token reads as the first page."""
    if not token or not token.startswith("PA"):
        return None
    raw = token[2:]
    try:
        return int_or_none(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        return None


def query_string(params: Iterable[tuple[str, Any]]) -> str:
    return urlencode([(k, v) for k, v in params if v is not None])


def country_codes(form: Form, name: str) -> list[str]:
    """ISO 3166 alpha-2 codes, repeated or comma-separated (`Countries=FR,GB`), upper-cased and sorted."""
    codes = sorted({c.strip().upper() for value in form.getlist(name) for c in value.split(",") if c.strip()})
    bad = [c for c in codes if len(c) != 2 or not c.isalpha()]
    if bad:
        raise BadRequest(f"{name} must be ISO 3166 alpha-2 codes; not {', '.join(bad)}.")
    return codes


def traffic_type(form: Form) -> TrafficType | None:
    """`TrafficType`: `marketing` or `transactional` (quiet hours hold only marketing); None when absent."""
    value = form.get("TrafficType")
    if not value:
        return None
    try:
        return TrafficType(value.lower())
    except ValueError:
        raise BadRequest(f"TrafficType must be marketing or transactional, not {value!r}.") from None
