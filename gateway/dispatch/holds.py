"""Held messages come due: gated again, then queued, by whichever worker looks first.

Theory.  A message may wait before it joins its sender's queue: the app scheduled it
(`SendAt`), or a rule held it (quiet hours).  Both are one mechanism, `lifecycle.Hold`: the
row is stored `scheduled` with `send_at` (its due time) and `hold_reason`, its sender already
chosen; nothing is kept in memory, so holds survive restarts and any worker releases them.

Every dispatcher keeper pass (each second, and at once when the clock moves) calls
`release_due`: it claims the due rows (`store.holds.due`), passes each through the gate's
checks whose answer can change while a message waits (the recipient's opt-out in the
message's scope, the service's geo permissions) and the policy's (quiet hours, sender-ID
rules) with the revision in force now, which may not be the one the message was accepted
under.  It fails the refused ones with the gate's code and a status callback each, holds
longer the ones the policy holds (a holiday or narrower window added meanwhile), and queues
the rest, set by set: one `executemany` of updates, one insert of their events and one of
their `queued` status callbacks (the callback Twilio sends when a scheduled message is
queued).  Each message's reasons get the release's decision (`releases`), after the one it
was accepted with.  An opt-out cancels held messages at once (`orchestration.consent.
cancel_pending`); the gate here catches a change that reached the database another way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Row
from sqlmodel import Session

from gateway.channels import WHATSAPP
from gateway.compliance.gates import parse_recipient, region_verdict
from gateway.compliance.optouts import opt_out_verdict, scope_of
from gateway.compliance.quiet_hours import QUIET_HOURS, TrafficType
from gateway.compliance.verdicts import REFUSE, VALID_NUMBER, Verdict, holding, outcome, refusal
from gateway.dates import iso8601
from gateway.dispatch.submit import policy_verdicts
from gateway.errors import GatewayError, NotCancelable
from gateway.lifecycle import REPLY_DIRECTION, Status
from gateway.observability import metrics
from gateway.outbox.backlog import Backlog
from gateway.outbox.messages import Change, set_status, set_statuses, status_callback_row
from gateway.policy.model import Policy
from gateway.store import deliveries as delivery_rows
from gateway.store import holds
from gateway.store.consent import opted_out_states
from gateway.store.tables import Message

#: Held messages released per transaction; a keeper pass takes more at once when there are.
BATCH = 1000


@dataclass(frozen=True)
class Released:
    senders: frozenset[str]  # senders that got work: their pacers are started
    more: bool  # a full batch: more may be due already


def regate(
    session: Session,
    row: Row[Any],
    opted_out: Mapping[tuple[str, str], set[tuple[str, str]]],
    policy: Policy | None,
    now: datetime,
) -> list[Verdict]:
    """The gate again for a held message now due, as verdicts: the checks of `dispatch.submit` whose
    answer can change while a message waits (the service's geo permissions, the recipient's
    opt-out) and, with `policy` (the revision in force now, not the one it was accepted under),
    quiet hours at `now` for the message's TrafficType and the sender-ID rules for its sender.
    `opted_out` is what `release_due` read for all its numbers at once, so a subscribed recipient
    costs no statement."""
    try:
        recipient = parse_recipient(row.to)
    except GatewayError as invalid:  # numbering metadata changed since: fail it rather than retry forever
        return [Verdict(VALID_NUMBER, REFUSE, invalid.message, "phonenumbers metadata", {}, invalid)]
    allowed = frozenset(row.allowed_countries.split(",")) if row.allowed_countries else None
    verdicts = [
        region_verdict(
            recipient.country,
            allowed,
            reply_to_inbound=False,
            source=f"service {row.service_sid}: GeoPermissions"
            if row.service_sid
            else "no Messaging Service: every country is permitted",
        ),
        opt_out_verdict(session, row.account_sid, scope_of(row.service_sid, row.sender_sid), recipient, opted_out),
    ]
    if policy is not None:
        verdicts += policy_verdicts(
            policy,
            recipient,
            _traffic(row),
            now,
            reply=False,
            service=(row.service_sid, row.quiet_hours) if row.service_sid else None,
            sender=(row.sender_kind, row.sender, row.registered_countries) if row.sender_kind else None,
        )
    return verdicts


def _traffic(row: Row[Any]) -> tuple[TrafficType, str]:
    """The TrafficType the message was accepted with (its quiet-hours verdict keeps it, with where it
    came from), else its service's, else transactional."""
    for gate in (row.reasons or {}).get("gates", ()):
        if gate.get("gate") == QUIET_HOURS and gate.get("traffic_type_source"):
            return TrafficType(gate["traffic_type"]), gate["traffic_type_source"]
    if row.service_sid and row.traffic_type:
        return TrafficType(row.traffic_type), f"service {row.service_sid}: TrafficType"
    return TrafficType.TRANSACTIONAL, "default: TrafficType transactional"


def released(reasons: dict[str, Any] | None, verdicts: list[Verdict], policy: Policy | None, now: datetime) -> Any:
    """The message's reasons with this release's decision added after the ones before (its
    acceptance's stays as it was): Explain shows both."""
    if reasons is None:  # a message accepted before reasons were kept
        return None
    decision = {
        "decided_at": iso8601(now),
        "policy_revision": policy.revision if policy is not None else None,
        "gates": [verdict.as_json() for verdict in verdicts],
        "outcome": outcome(verdicts, now),
    }
    return {**reasons, "releases": [*reasons.get("releases", ()), decision]}


def opted_out_meanwhile(session: Session, message: Message) -> bool:
    """Whether the recipient of an app message that comes back from its provider for a retry has
    opted out while it was in flight.  An opt-out cancels what waits (`orchestration.consent.
    cancel_pending`), not what a worker has claimed; without this check a message that was in
    flight at the STOP would go out at its retry."""
    if message.direction == REPLY_DIRECTION or message.sender_sid is None:  # a STOP's confirmation still goes
        return False
    try:
        recipient = parse_recipient(message.to)
    except GatewayError:
        return False
    scope = scope_of(message.service_sid, message.sender_sid)
    return opt_out_verdict(session, message.account_sid, scope, recipient).error is not None


def release_due(
    session: Session, now: datetime, backlog: Backlog, policy: Policy | None = None, limit: int = BATCH
) -> Released:
    """Judge the held messages due at `now` again by `policy` (the revision in force): queue the ones
    it lets through, hold longer the ones it holds (a new holiday, a narrower window), fail the ones
    it refuses with the code a send would get now and a status callback.  Each message's reasons
    record the decision."""
    connection = session.connection()
    rows = holds.due(connection, now, limit)
    if not rows:
        return Released(frozenset(), False)
    numbers = sorted({row.to.removeprefix(WHATSAPP) for row in rows})
    opted_out = opted_out_states(connection, numbers)
    going, again, failing = [], [], []
    reasons: dict[int, Any] = {}  # seq → the reasons with this release's decision
    for row in rows:
        verdicts = regate(session, row, opted_out, policy, now)
        reasons[row.seq] = released(row.reasons, verdicts, policy, now)
        refused, held = refusal(verdicts), holding(verdicts)
        if refused is not None:
            assert refused.error is not None
            failing.append((row.seq, Change(row.sid, Status.FAILED, "hold", refused.error.code, refused.error.message)))
        elif held is not None:  # the policy in force holds it longer
            until = datetime.fromisoformat(held.facts["until"])
            expires = row.expires_at + (until - row.send_at)  # the same validity, from the new due time
            hold = {"ref": row.seq, "until": until, "reason": held.source, "expires": expires, "now": now}
            again.append(hold | {"reasons": reasons[row.seq]})
        else:
            going.append(row)
    holds.hold_again(connection, again)
    if failing:
        holds.record_reasons(connection, {seq: reasons[seq] for seq, _ in failing})
        set_statuses(session, [change for _, change in failing], now=now, backlog=backlog)
    if going:
        holds.queue(connection, going, now, reasons)
        callbacks = [status_callback_row(row, Status.QUEUED, None, now) for row in going if row.status_callback]
        if callbacks:
            delivery_rows.write(connection, callbacks)
        for row in going:
            backlog.add(row.sender_sid, row.num_segments)
            metrics.status_changed(session, Status.QUEUED.value, None)
    return Released(frozenset(row.sender_sid for row in going), len(rows) >= limit)


def cancel(session: Session, account_sid: str, sid: str, now: datetime, backlog: Backlog) -> Message | None:
    """Cancel an account's held message (the app's `Status=canceled`), with its `canceled` status
    callback; None if the account has no such message, 30409 once it is no longer held."""
    status = holds.status_of(session.connection(), account_sid, sid)
    if status is None:
        return None
    if status != Status.SCHEDULED.value:
        raise NotCancelable(f"The message {sid} cannot be canceled: it is {status}, no longer scheduled.")
    set_status(session, sid, Status.CANCELED, now=now, source="api", backlog=backlog)
    return holds.reloaded(session, sid)
