"""Opt-out state: the check every send passes.  (Inbound keywords write it.)

Scope follows Twilio: inside a Messaging Service an opt-out covers the whole
service; a plain number's opt-out covers that number.  `*` is the account-wide
scope that STOPALL writes.  State is kept per channel: an SMS STOP does not
silence WhatsApp unless the policy links them.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlmodel import Session

from gateway.compliance.gates import Address
from gateway.errors import RecipientUnsubscribed
from gateway.store.tables import OptOut

ACCOUNT_WIDE = "*"


def scope_of(service_sid: str | None, sender_sid: str) -> str:
    return service_sid or sender_sid


#: Built once: every send runs it, and building a statement costs more than running it.
_OPTED_OUT = select(OptOut.service_sid).where(
    OptOut.account_sid == bindparam("account"), OptOut.number == bindparam("number"),
    OptOut.channel == bindparam("channel"),
    OptOut.service_sid.in_([bindparam("scope"), bindparam("everything")]),  # type: ignore[attr-defined]
    OptOut.opted_out.is_(True),  # type: ignore[attr-defined]
).limit(1)


def ensure_subscribed(session: Session, account_sid: str, scope: str, recipient: Address) -> None:
    """Raise 21610 when the recipient opted out of `scope` or of the whole account."""
    found = session.connection().execute(_OPTED_OUT, {
        "account": account_sid, "number": recipient.number, "channel": recipient.channel, "scope": scope,
        "everything": ACCOUNT_WIDE}).first()
    if found is not None:
        raise RecipientUnsubscribed("Attempt to send to unsubscribed recipient.")
