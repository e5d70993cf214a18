"""What apps receive: Twilio's parameters, built from our records.  Pure."""

from __future__ import annotations

from datetime import datetime

from gateway.dates import iso8601
from gateway.lifecycle import Status

API_VERSION = "2010-04-01"


def status_callback_params(
    *,
    message_sid: str,
    account_sid: str,
    service_sid: str | None,
    sender: str | None,
    to: str,
    status: Status,
    error_code: int | None,
) -> list[tuple[str, str]]:
    """A status callback as Twilio posts it (form fields, in Twilio's usual order), with `ErrorCode`
    whenever the message has one: an app tells an opt-out's cancellation (21610) from its own by it."""
    params = [("MessageSid", message_sid), ("SmsSid", message_sid), ("AccountSid", account_sid)]
    if service_sid:
        params.append(("MessagingServiceSid", service_sid))
    params += [
        ("From", sender or ""),
        ("To", to),
        ("MessageStatus", status.value),
        ("SmsStatus", status.value),
        ("ApiVersion", API_VERSION),
    ]
    if error_code is not None:
        params.append(("ErrorCode", str(error_code)))
    return params


def click_event_params(
    *,
    message_sid: str,
    account_sid: str,
    service_sid: str | None,
    to: str,
    sender: str | None,
    link: str,
    shortened_link: str,
    link_create_time: datetime,
    click_time: datetime,
    user_agent: str | None,
    click_kind: str,
) -> list[tuple[str, str]]:
    """A click on a short link, in the fields of Twilio's click event
    (`com.twilio.daptbt.link-shortening.link-clicked`), times in ISO 8601, plus the gateway's
    verdict on who clicked: `click_kind` human or preview, and `is_preview`."""
    return [
        ("message_sid", message_sid),
        ("account_sid", account_sid),
        ("messaging_service_sid", service_sid or ""),
        ("to", to),
        ("from", sender or ""),
        ("link", link),
        ("shortened_link", shortened_link),
        ("link_create_time", iso8601(link_create_time) or ""),
        ("click_time", iso8601(click_time) or ""),
        ("user_agent", user_agent or ""),
        ("click_kind", click_kind),
        ("is_preview", "true" if click_kind == "preview" else "false"),
    ]
