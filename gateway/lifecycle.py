"""Message status transitions, as one table.

Statuses only move forward: a provider's late `sent` after `delivered`, or a
duplicate callback, changes nothing (it is still logged as an event).  The
rank table is the whole rule; terminal statuses accept only what their row
lists (a WhatsApp `read` after `delivered`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    """A message's delivery status, in Twilio's spelling."""

    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    READ = "read"
    RECEIVED = "received"
    UNKNOWN = "unknown"


_RANK: dict[Status, int] = {
    Status.ACCEPTED: 0,
    Status.SCHEDULED: 0,
    Status.QUEUED: 1,
    Status.SENDING: 2,
    Status.SENT: 3,
    Status.DELIVERED: 4,
    Status.UNDELIVERED: 4,
    Status.FAILED: 4,
    Status.CANCELED: 4,
    Status.READ: 5,
}
#: Terminal statuses and the only moves still allowed from them.
_AFTER_TERMINAL: dict[Status, frozenset[Status]] = {
    Status.DELIVERED: frozenset({Status.READ}),
    Status.UNDELIVERED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELED: frozenset(),
    Status.READ: frozenset(),
}
#: Statuses a message waits in before it leaves the gateway.
PENDING = frozenset({Status.ACCEPTED, Status.SCHEDULED, Status.QUEUED})


#: The direction of the gateway's own replies (confirmations): an opt-out never cancels them.
REPLY_DIRECTION = "outbound-reply"
#: How far ahead a message may be scheduled (Twilio: E/35115, 35 days).
MAX_SCHEDULE_AHEAD = timedelta(days=35)
#: Messages scheduled by `SendAt` an account may have waiting (Twilio: E/35125, a soft limit);
#: `GATEWAY_SCHEDULED_LIMIT` changes it.
SCHEDULED_LIMIT = 500_000
#: `Hold.reason` of a message the app scheduled (`ScheduleType=fixed`, `SendAt`).
SCHEDULED_BY_APP = "request: SendAt"


@dataclass(frozen=True)
class Hold:
    """Hold a message back until `until`: it is stored `scheduled` with `until` as its due time
    and `reason` (what held it: `SCHEDULED_BY_APP`, or the rule that did, such as a quiet-hours
    window) recorded, then gated again and queued when it comes due (`dispatch.holds`)."""

    until: datetime
    reason: str


def advances(current: Status, new: Status) -> bool:
    """True when a message in `current` should take status `new`."""
    if new not in _RANK or current == new:
        return False
    if current in _AFTER_TERMINAL:
        return new in _AFTER_TERMINAL[current]
    return _RANK[new] > _RANK[current]


def is_final(status: Status) -> bool:
    return status in _AFTER_TERMINAL
