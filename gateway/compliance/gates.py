"""The gate's pure checks: everything about a send that needs no database.

Each failure raises the `GatewayError` whose Twilio code names it, in the
order Twilio checks them, so the caller learns the first thing to fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import phonenumbers

from gateway.channels import WHATSAPP
from gateway.compliance.reasons import Reason
from gateway.compliance.verdicts import GEO_PERMISSIONS, PASS, REFUSE, VALID_NUMBER, Verdict
from gateway.dates import parse_iso8601
from gateway.errors import (
    BodyRequired,
    BodyTooLong,
    InvalidFrom,
    InvalidTo,
    InvalidValidityPeriod,
    RegionNotPermitted,
    ScheduleNeedsService,
    ScheduleTypeUnsupported,
    SendAtMissing,
    SendAtOutOfWindow,
    ToRequired,
)
from gateway.lifecycle import MAX_SCHEDULE_AHEAD
from gateway.media import check_urls

MAX_BODY = 1600
MAX_VALIDITY = 36000
#: Twilio's alphanumeric sender rule (1-11 of A-Z a-z 0-9 space - + _ &, not digits only) and short codes.
ALPHA_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 \-+_&]{1,11}$")
SHORT_CODE = re.compile(r"^[0-9]{3,8}$")
#: A recipient as Twilio requires it: E.164, a plus and up to 15 digits, nothing else.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")


@dataclass(frozen=True)
class Address:
    """A recipient or sender as Twilio writes it, with what routing needs."""

    address: str  # "+12015550123" or "whatsapp:+12015550123"
    number: str  # E.164
    channel: str  # sms | whatsapp
    country: str
    area_code: str | None


def channel_of(address: str) -> str:
    """`whatsapp` for a `whatsapp:`-prefixed address, else `sms`."""
    return "whatsapp" if address.startswith(WHATSAPP) else "sms"


@lru_cache(maxsize=65536)
def parse_recipient(to: str | None) -> Address:
    """A valid, dialable E.164 number, optionally `whatsapp:`-prefixed (21604, 21211)."""
    if not to:
        raise ToRequired("A 'To' phone number is required.")
    channel = channel_of(to)
    raw = to.removeprefix(WHATSAPP)
    if not E164.fullmatch(raw):  # phonenumbers would read "+1 (202) 555-CALL" and skip trailing junk
        raise InvalidTo(f"The 'To' number {to} is not a valid phone number.")
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise InvalidTo(f"The 'To' number {to} is not a valid phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidTo(f"The 'To' number {to} is not a valid phone number.")
    number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    country = phonenumbers.region_code_for_number(parsed) or "ZZ"
    area = None
    if parsed.country_code == 1:
        area = str(parsed.national_number)[:3]
    return Address(WHATSAPP + number if channel == "whatsapp" else number, number, channel, country, area)


def check_sender_syntax(sender: str) -> str:
    """`From` must look like a number, short code, alpha sender or channel address (21212)."""
    raw = sender.removeprefix(WHATSAPP)
    if raw.startswith("+"):
        try:
            parsed = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is None or not phonenumbers.is_possible_number(parsed):
            raise InvalidFrom(
                f"The 'From' number {sender} is not a valid phone number, shortcode, or alphanumeric sender ID."
            )
        number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        return WHATSAPP + number if sender.startswith(WHATSAPP) else number
    if sender.startswith(WHATSAPP) or not (SHORT_CODE.match(raw) or ALPHA_SENDER.match(raw)):
        raise InvalidFrom(
            f"The 'From' number {sender} is not a valid phone number, shortcode, or alphanumeric sender ID."
        )
    return raw


def check_content(body: str, media_urls: tuple[str, ...]) -> None:
    """A body or media is required (21602); bodies stop at 1,600 characters (21617); media as
    `media.check_urls` says (21623, 21620)."""
    if not body and not media_urls:
        raise BodyRequired("Message body is required.")
    if len(body) > MAX_BODY:
        raise BodyTooLong(f"The concatenated message body exceeds the {MAX_BODY} character limit.")
    check_urls(media_urls)


def check_validity(seconds: int | None) -> None:
    if seconds is not None and not 1 <= seconds <= MAX_VALIDITY:
        raise InvalidValidityPeriod(f"ValidityPeriod must be between 1 and {MAX_VALIDITY} seconds.")


def check_schedule(
    schedule_type: str | None, send_at: str | None, *, service_sid: str | None, now: datetime, minimum: timedelta
) -> datetime | None:
    """The moment a send is scheduled for (aware UTC), or None for a send now.  Twilio's rules:
    `ScheduleType` is only `fixed` (35126; a `SendAt` without it is refused the same way rather than
    sent at once), scheduling needs a Messaging Service (35118) and a `SendAt` (35111), an ISO 8601
    moment with its UTC offset from `minimum` to 35 days ahead (35115)."""
    if not schedule_type:
        if send_at:
            raise ScheduleTypeUnsupported("SendAt schedules a message only with ScheduleType=fixed.")
        return None
    if schedule_type != "fixed":
        raise ScheduleTypeUnsupported(f"ScheduleType {schedule_type!r} is not supported: the only value is 'fixed'.")
    if service_sid is None:
        raise ScheduleNeedsService("MessagingServiceSid is required to schedule a message.")
    if not send_at:
        raise SendAtMissing("SendAt timestamp is missing: it is required when ScheduleType is 'fixed'.")
    window = (
        f"SendAt must be an ISO 8601 time with its UTC offset (2026-05-15T14:30:00Z), between "
        f"{int(minimum.total_seconds())} seconds and {MAX_SCHEDULE_AHEAD.days} days from now."
    )
    try:
        moment = parse_iso8601(send_at)
    except ValueError:
        raise SendAtOutOfWindow(f"{window} {send_at!r} is not.") from None
    if not now + minimum <= moment <= now + MAX_SCHEDULE_AHEAD:
        raise SendAtOutOfWindow(f"{window} {send_at!r} is not.")
    return moment


@lru_cache(maxsize=65536)
def number_verdict(recipient: Address) -> Verdict:
    """The valid-number gate's verdict: `parse_recipient` refused an invalid number before any
    gate ran, so here it says what the number is (country, area code, channel)."""
    reason = (
        Reason("number.valid_area", number=recipient.number, country=recipient.country, area_code=recipient.area_code)
        if recipient.area_code
        else Reason("number.valid", number=recipient.number, country=recipient.country)
    )
    return Verdict(
        VALID_NUMBER,
        PASS,
        reason,
        f"phonenumbers {phonenumbers.__version__} metadata",
        {
            "number": recipient.number,
            "country": recipient.country,
            "area_code": recipient.area_code,
            "channel": recipient.channel,
        },
    )


def region_verdict(country: str, allowed: frozenset[str] | None, *, reply_to_inbound: bool, source: str) -> Verdict:
    """Geo permissions: every country until the service lists some; replies always go (21408).
    `source` names the setting that lists them."""
    if allowed is None:
        return Verdict(GEO_PERMISSIONS, PASS, _NONE_LISTED, source)
    if country in allowed:
        return Verdict(GEO_PERMISSIONS, PASS, Reason("geo.permitted", country=country), source)
    if reply_to_inbound:
        return Verdict(GEO_PERMISSIONS, PASS, Reason("geo.reply", country=country), source)
    error = RegionNotPermitted(Reason("geo.refused", country=country))
    return Verdict(GEO_PERMISSIONS, REFUSE, error.message, source, {}, error)


_NONE_LISTED = Reason("geo.none_listed")
