"""What apps receive: Twilio's parameters, built from our records.  Pure."""

from __future__ import annotations

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
