"""What an inbound message means, with no I/O: the consent changes it makes and whether it is
confirmed (`decide`).  `orchestration.inbound` gathers a batch's state, asks this for each message
and writes the effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.compliance.optouts import ACCOUNT_WIDE, CHANNELS
from gateway.policy.matcher import Match
from gateway.policy.model import Kind

CONFIRMATION_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class ConsentChange:
    scope: str
    channel: str
    opted_out: bool


@dataclass(frozen=True)
class Decision:
    """What an inbound message does: consent changes, whether it is confirmed, how the app hears of it."""

    opt_out_type: Kind | None
    changes: tuple[ConsentChange, ...] = ()
    confirm: bool = False


def decide(
    match: Match | None,
    *,
    scope: str,
    channel: str,
    account_scope: bool,
    linked: bool,
    opted_out: frozenset[tuple[str, str]],
    last_confirmed: datetime | None,
    now: datetime,
    window: timedelta = CONFIRMATION_WINDOW,
) -> Decision:
    """The rules, with no I/O.

    STOP opts out of `scope` (or the whole account for STOPALL or an account-scoped policy), on
    this channel or, when the policy links channels, on all.  START opts back in where the number
    is opted out (`opted_out` holds its (scope, channel) pairs): this scope and the account-wide
    block (else the START would seem to do nothing).  Only changes are changes: a STOP where the
    number is already opted out (a repeat, or a copy sent twice) changes nothing, so it adds no
    consent event and cancels nothing twice.  HELP changes nothing.  Each kind is confirmed at
    most once per `window` per number, so reply loops and repeated STOPs send nothing more.
    """
    if match is None:
        return Decision(None)
    channels = CHANNELS if linked else (channel,)
    wanted: list[ConsentChange] = []
    if match.kind is Kind.STOP:
        target = ACCOUNT_WIDE if match.account_wide or account_scope else scope
        wanted = [ConsentChange(target, c, True) for c in channels]
    elif match.kind is Kind.START:
        wanted = [ConsentChange(t, c, False) for t in (scope, ACCOUNT_WIDE) for c in channels]
    changes = tuple(c for c in wanted if ((c.scope, c.channel) in opted_out) != c.opted_out)
    fresh = last_confirmed is None or now - last_confirmed >= window
    return Decision(match.kind, changes, confirm=fresh and match.reply is not None)
