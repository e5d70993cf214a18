"""Time as the gateway keeps it (aware UTC), and the two date formats Twilio's APIs speak."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's 2010 API dates: `Thu, 30 Jul 2015 20:12:31 +0000`, always UTC."""
    if moment is None:
        return None
    return email.utils.format_datetime(moment.astimezone(UTC).replace(microsecond=0))


def iso8601(moment: datetime | None) -> str | None:
    """The v1 APIs' dates: `2015-07-30T20:12:31Z`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
