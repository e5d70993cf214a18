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

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from gateway.compliance.gates import Address
from gateway.compliance.reasons import Reason
from gateway.compliance.verdicts import OPT_OUT, PASS, REFUSE, Verdict
from gateway.dates import iso8601
from gateway.errors import RecipientUnsubscribed
from gateway.store.db import per_dialect
from gateway.store.tables import ConsentEvent, OptOut, core_table

REPLY_DIRECTION = "outbound-reply"

ACCOUNT_WIDE = "*"
OPT_OUT_CODE = 21610
CHANNELS = ("sms", "whatsapp")

#: Built once: every send runs it, and building a statement costs more than running it.
_OPTED_OUT = select(col(OptOut.service_sid)).where(
    col(OptOut.account_sid) == bindparam("account"), col(OptOut.number) == bindparam("number"),
    col(OptOut.channel) == bindparam("channel"),
    col(OptOut.service_sid).in_([bindparam("scope"), bindparam("everything")]),
    col(OptOut.opted_out).is_(True),
).limit(1)
_S = core_table(OptOut)
_E = core_table(ConsentEvent)
#: The event that opted a number out of a scope: read only when a send is refused for it.
_LAST_OPT_OUT = select(_E.c.id, _E.c.at, _E.c.source, _E.c.keyword, _E.c.inbound_message_sid, _E.c.reason,
                       _E.c.policy_revision).where(
    _E.c.account_sid == bindparam("account"), _E.c.number == bindparam("number"),
    _E.c.channel == bindparam("channel"), _E.c.scope == bindparam("scope"), _E.c.opted_out.is_(True),
).order_by(_E.c.id.desc()).limit(1)


def _state_upsert(insert: Any, *, only_changes: bool = False) -> Any:
    """INSERT … ON CONFLICT DO UPDATE of a consent state; an older change leaves a newer state alone.

    With `only_changes`, a row already in the wanted state is left alone too, so whether the
    statement returns a row says whether consent changed; on PostgreSQL a concurrent transaction's change to the
    same key is waited for and then seen, so two processes cannot both record the same opt-out."""
    statement = insert(_S)
    newer = _S.c.date_updated <= statement.excluded.date_updated
    return statement.on_conflict_do_update(
        index_elements=[_S.c.account_sid, _S.c.service_sid, _S.c.number, _S.c.channel],
        set_={"opted_out": statement.excluded.opted_out, "date_updated": statement.excluded.date_updated},
        where=(newer & (_S.c.opted_out != statement.excluded.opted_out)) if only_changes else newer)


_STATE_UPSERTS = per_dialect(_state_upsert)
#: RETURNING, not rowcount, tells whether it changed: psycopg reports -1 for an upsert's rowcount.
_STATE_CHANGES = per_dialect(lambda insert: _state_upsert(insert, only_changes=True).returning(_S.c.opted_out))


def upsert_states(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Write consent states (one statement, however many rows), in SQLite or PostgreSQL."""
    connection.execute(_STATE_UPSERTS[connection.dialect.name], rows)


def scope_of(service_sid: str | None, sender_sid: str) -> str:
    return service_sid or sender_sid


def opt_out_verdict(session: Session, account_sid: str, scope: str, recipient: Address,
                    known: Mapping[tuple[str, str], set[tuple[str, str]]] | None = None) -> Verdict:
    """Refuse (21610) when the recipient opted out of `scope` or of the whole account, naming the
    scope and the consent event that opted them out.  `known` is the opted-out (scope, channel)
    pairs by (account, number) a send batch read for all its numbers at once
    (`store.consent.opted_out_states`), so a subscribed recipient costs no statement."""
    if known is not None:
        states = known.get((account_sid, recipient.number), ())
        found = next((s for s in (scope, ACCOUNT_WIDE) if (s, recipient.channel) in states), None)
    else:
        found = session.connection().execute(_OPTED_OUT, {
            "account": account_sid, "number": recipient.number, "channel": recipient.channel, "scope": scope,
            "everything": ACCOUNT_WIDE}).scalar()
    if found is None:
        return Verdict(OPT_OUT, PASS, Reason("opt_out.clear", number=recipient.number, scope=_scope_words(scope),
                                             channel=recipient.channel), f"opt-out state: scope {scope}",
                       {"scope": scope})
    event = session.connection().execute(_LAST_OPT_OUT, {
        "account": account_sid, "number": recipient.number, "channel": recipient.channel, "scope": found}).first()
    error = RecipientUnsubscribed(_UNSUBSCRIBED)
    facts: dict[str, Any] = {"scope": found, "event": None}
    source = f"opt-out state: scope {found}"
    said = {"number": recipient.number, "scope": _scope_words(found), "channel": recipient.channel}
    reason = Reason("opt_out.opted_out", **said)
    if event is not None:
        facts["event"] = {"id": event.id, "at": iso8601(event.at), "source": event.source, "keyword": event.keyword,
                          "inbound_message_sid": event.inbound_message_sid, "reason": event.reason,
                          "policy_revision": event.policy_revision}
        reason = (Reason("opt_out.opted_out_by", **said, at=iso8601(event.at), keyword=event.keyword)
                  if event.keyword else
                  Reason("opt_out.opted_out_through", **said, at=iso8601(event.at), source=event.source))
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
    return {"account_sid": consent.account_sid, "scope": consent.scope, "number": consent.number,
            "channel": consent.channel, "opted_out": consent.opted_out, "keyword": consent.keyword,
            "language": consent.language, "inbound_message_sid": consent.inbound_message_sid,
            "policy_revision": consent.policy_revision, "source": consent.source, "reason": consent.reason,
            "at": now, "match": consent.match, "exception": consent.exception}


def state_row(consent: Consent, now: datetime) -> dict[str, Any]:
    """The consent state a change leaves, as its `opt_out` row."""
    return {"account_sid": consent.account_sid, "service_sid": consent.scope, "number": consent.number,
            "channel": consent.channel, "opted_out": consent.opted_out, "date_updated": now}
