"""Log lines: JSON or text, each with the request id it belongs to, phone numbers masked.

The request id names one chain of work: the HTTP request that started it (an API send, a
provider's webhook), the message it stored, the dispatch of that message, the request to the
provider and the forward to the app all carry it (`request_id` on the message and delivery
rows; `X-Request-Id` on the HTTP requests).  `REQUEST_ID` holds it for the code running now:
the HTTP middleware sets it per request, the workers per message or delivery.

Phone numbers are personal data.  At INFO and above every number in a line is masked down to
its country code (when it has one) and its last digits, enough to match a complaint ("my
number ends in 0123") without keeping the number; DEBUG lines, for a developer's machine,
show them whole.

A URL's credentials (`https://user:password@app.example/hook`, which Twilio's URLs may carry for
HTTP Basic) never reach a line, at any level: the URL is logged with `user:password@` removed.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


@contextmanager
def for_request(request_id: str | None) -> Iterator[None]:
    """Log lines inside the block carry `request_id`: one request's part of work done for many (a batch)."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


#: E.164 (`+12025550123`, also inside `whatsapp:+…`); international digits without the plus, as
#: Vonage writes them (`447700900123`); and national forms as people and providers write them:
#: `(202) 555-0123`, `202-555-0123`, `202.555.0123`, `07700 900123`, `06 12 34 56 78`.
_NUMBER = re.compile(
    r"(?<![\w+])(?<!\d\.)(?:"
    r"\+\d{7,15}"
    r"|\d{10,15}"
    r"|\(\d{3}\) ?\d{3}[-. ]\d{4}|\d{3}[-.]\d{3}[-.]\d{4}"
    r"|0\d{1,4}(?:[ .-]\d{2,6}){1,4}"
    r")(?!\w|\.\d)"
)


def mask(text: str) -> str:
    """Every phone number in `text` masked: `+12025550123` → `+1******0123`."""
    return _NUMBER.sub(_mask_one, text)


def _mask_one(found: re.Match[str]) -> str:
    number = found.group()
    digits = sum(c.isdigit() for c in number)
    if digits < 9 and number[0] == "0":  # `0 12 34`: too short for a national number (a time, a count)
        return number
    keep = 4 if digits >= 10 else 2
    start = 0
    if number[0] == "+":
        start = 1 + next((n for n in (1, 2, 3) if int(number[1 : 1 + n]) in COUNTRY_CODE_TO_REGION_CODE), 0)
    out, seen = [], 0
    for index, char in enumerate(number):
        if char.isdigit():
            seen += 1
            out.append(char if index < start or seen > digits - keep else "*")
        else:
            out.append(char)
    return "".join(out)


#: `scheme://userinfo@`: what a URL's credentials look like wherever a line holds one.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")


def redact(text: str) -> str:
    """Every URL in `text` without its `user:password@` part."""
    return _USERINFO.sub(r"\1", text)


class RequestIdFilter(logging.Filter):
    """Give every record the request id of the code that logged it (`-` for none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class PhoneMask(logging.Filter):
    """Mask phone numbers in records at INFO and above: the message and any traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return True
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        return True


class UrlCredentials(logging.Filter):
    """Remove credentials from the URLs in records at every level: the message and any traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, request_id, message, and the
    traceback as `exception` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def install(handler: logging.Handler) -> None:
    """The gateway's filters on a handler: request ids first, then masking and redaction."""
    handler.addFilter(RequestIdFilter())
    handler.addFilter(PhoneMask())
    handler.addFilter(UrlCredentials())  # last: it also redacts the traceback PhoneMask rendered


def configure(log_format: str, stream: TextIO = sys.stderr) -> None:
    """The process's logging: INFO and above to `stream`, as `text` or `json` lines."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT))
    install(handler)
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("httpx2").setLevel(logging.WARNING)  # one line per provider call drowns the log
