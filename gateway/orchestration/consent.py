"""A consent change's effects, from any source (a keyword, the API, the console, an import): the
state, the audit event, and for an opt-out the cancellation of the app's messages still waiting.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from gateway.channels import WHATSAPP
from gateway.compliance.optouts import ACCOUNT_WIDE, Consent, event_row, state_row
from gateway.observability import metrics
from gateway.outbox.backlog import Backlog
from gateway.outbox.messages import cancel_opted_out
from gateway.store import consent as consent_rows


def record_consent(session: Session, consent: Consent, *, now: datetime, backlog: Backlog) -> list[str] | None:
    """Update the state, append the event, and cancel what is pending after an opt-out, when the
    state changes; a number already in the wanted state is left as it is and nothing is recorded.

    Returns None for no change, else the sids of the messages it canceled (their status callbacks
    are queued)."""
    connection = session.connection()
    if not consent_rows.change_state(connection, state_row(consent, now)):
        return None
    consent_rows.write_events(connection, [event_row(consent, now)])
    metrics.consent_changed(session, consent.scope, consent.opted_out, consent.source)
    if not consent.opted_out:
        return []
    return cancel_pending(session, [(consent, now)], backlog=backlog)


def cancel_pending(session: Session, opt_outs: list[tuple[Consent, datetime]], *, backlog: Backlog) -> list[str]:
    """Cancel the app's messages still waiting to go to each opted-out number in its consent's
    scope, with 21610, reading what waits for all the numbers at once; returns the canceled sids."""
    wanted: dict[tuple[str, str], list[tuple[Consent, datetime]]] = {}
    for consent, now in opt_outs:
        address = WHATSAPP + consent.number if consent.channel == "whatsapp" else consent.number
        wanted.setdefault((consent.account_sid, address), []).append((consent, now))
    rows = consent_rows.pending_to(
        session.connection(), sorted({account for account, _ in wanted}), sorted({address for _, address in wanted})
    )
    canceled = []
    for row in rows:
        for consent, now in wanted.get((row.account_sid, row.to), ()):
            in_scope = consent.scope in (ACCOUNT_WIDE, row.service_sid) or (
                row.service_sid is None and row.sender_sid == consent.scope
            )
            if in_scope:
                if cancel_opted_out(session, row.sid, now=now, backlog=backlog):
                    canceled.append(row.sid)
                break
    return canceled
