"""Opt-out state: the check every send passes, and the one way to change it.

Scope follows Twilio: inside a Messaging Service an opt-out covers the whole
service; a plain number's opt-out covers that number.  `*` is the account-wide
scope that STOPALL (or an account-scoped policy) writes.  State is kept per
channel: an SMS STOP does not silence WhatsApp unless the policy links them.

Every change goes through `orchestration.consent.record_consent`, which updates the derived state,
appends the audit event and, for an opt-out, cancels the app's messages still
waiting to go to that number in that scope (Twilio would send them anyway).
A "change" to the state the number is already in records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlmodel import Session

from gateway.compliance.gates import Address
from gateway.compliance.reasons import Reason
from gateway.compliance.verdicts import OPT_OUT, PASS, REFUSE, Verdict
from gateway.dates import iso8601
from gateway.errors import RecipientUnsubscribed
from gateway.store import consent as consent_rows

ACCOUNT_WIDE = "*"
OPT_OUT_CODE = 21610
CHANNELS = ("sms", "whatsapp")


def scope_of(service_sid: str | None, sender_sid: str) -> str:
    return service_sid or sender_sid


def opt_out_verdict(
    session: Session,
    account_sid: str,
    scope: str,
    recipient: Address,
    known: Mapping[tuple[str, str], set[tuple[str, str]]] | None = None,
) -> Verdict:
    """Refuse (21610) when the recipient opted out of `scope` or of the whole account, naming the
    scope and the consent event that opted them out.  `known` is the opted-out (scope, channel)
    pairs by (account, number) a send batch read for all its numbers at once
    (`store.consent.opted_out_states`), so a subscribed recipient costs no statement."""
    if known is not None:
        states = known.get((account_sid, recipient.number), ())
        found = next((s for s in (scope, ACCOUNT_WIDE) if (s, recipient.channel) in states), None)
    else:
        found = consent_rows.opted_out_of(
            session.connection(), account_sid, recipient.number, recipient.channel, scope, ACCOUNT_WIDE
        )
    if found is None:
        return Verdict(
            OPT_OUT,
            PASS,
            Reason("opt_out.clear", number=recipient.number, scope=_scope_words(scope), channel=recipient.channel),
            f"opt-out state: scope {scope}",
            {"scope": scope},
        )
    event = consent_rows.last_opt_out(session.connection(), account_sid, recipient.number, recipient.channel, found)
    error = RecipientUnsubscribed(_UNSUBSCRIBED)
    facts: dict[str, Any] = {"scope": found, "event": None}
    source = f"opt-out state: scope {found}"
    said = {"number": recipient.number, "scope": _scope_words(found), "channel": recipient.channel}
    reason = Reason("opt_out.opted_out", **said)
    if event is not None:
        facts["event"] = {
            "id": event.id,
            "at": iso8601(event.at),
            "source": event.source,
            "keyword": event.keyword,
            "inbound_message_sid": event.inbound_message_sid,
            "reason": event.reason,
            "policy_revision": event.policy_revision,
        }
        reason = (
            Reason("opt_out.opted_out_by", **said, at=iso8601(event.at), keyword=event.keyword)
            if event.keyword
            else Reason("opt_out.opted_out_through", **said, at=iso8601(event.at), source=event.source)
        )
        source = f"consent event {event.id}"
    return Verdict(OPT_OUT, REFUSE, reason, source, facts, error)


@lru_cache(maxsize=4096)
def _scope_words(scope: str) -> Reason:
    """The scope as the reasons name it (one per scope, made once: every send names its scope)."""
    if scope == ACCOUNT_WIDE:
        return Reason("scope.account")
    return Reason("scope.service", sid=scope) if scope.startswith("MG") else Reason("scope.number", sid=scope)


_UNSUBSCRIBED = Reason("opt_out.unsubscribed")


@dataclass(frozen=True)
class Consent:
    """One consent change, as the audit trail records it."""

    account_sid: str
    scope: str
    number: str  # E.164
    channel: str  # sms | whatsapp
    opted_out: bool
    source: str  # keyword | api | import
    keyword: str | None = None
    language: str | None = None
    inbound_message_sid: str | None = None
    policy_revision: str | None = None
    reason: str | None = None
    match: str | None = None  # exact | phrase | embedded: how sure the keyword decision was
    exception: str | None = None  # the policy exception that neutralised another occurrence


def event_row(consent: Consent, now: datetime) -> dict[str, Any]:
    """The audit event of a consent change, as its row."""
    return {
        "account_sid": consent.account_sid,
        "scope": consent.scope,
        "number": consent.number,
        "channel": consent.channel,
        "opted_out": consent.opted_out,
        "keyword": consent.keyword,
        "language": consent.language,
        "inbound_message_sid": consent.inbound_message_sid,
        "policy_revision": consent.policy_revision,
        "source": consent.source,
        "reason": consent.reason,
        "at": now,
        "match": consent.match,
        "exception": consent.exception,
    }


def state_row(consent: Consent, now: datetime) -> dict[str, Any]:
    """The consent state a change leaves, as its `opt_out` row."""
    return {
        "account_sid": consent.account_sid,
        "service_sid": consent.scope,
        "number": consent.number,
        "channel": consent.channel,
        "opted_out": consent.opted_out,
        "date_updated": now,
    }
