"""The overview page: 30 days of traffic and consent as charts, delivery, errors, STOP rates, policy, health.

The 30 days are read in two parts.  Today is read at every view: messages through
`ix_message_account_created`, consent events newest first, so the cost follows a day of
traffic.  The 29 days before change little (a late delivery report at most) and each read of them
passes over a month of messages and every consent event of the account, so they are kept per
account for `SETTLED_TTL` (an hour) in the process; the page says when they were read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session
from starlette.responses import Response

from gateway.console.charts import daily_bars
from gateway.console.figures import Overview, summarize, window_days, window_start
from gateway.console.web import Page
from gateway.dates import utcnow
from gateway.policy.watcher import PolicyState
from gateway.store.senders import scopes
from gateway.store.traffic import (
    consent_totals,
    error_totals,
    message_totals,
    recent_consent_totals,
    send_latencies,
)

SERIES = ("inbound", "outbound", "opt_outs", "opt_ins")
LATENCY_WINDOW = timedelta(days=1)
SETTLED_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class _Settled:
    """Grouped rows of the window's days before yesterday, as read at `read_at`."""

    start: datetime
    read_at: datetime
    messages: list[Any]
    consents: list[Any]
    errors: list[Any]


_SETTLED: dict[tuple[int, str], _Settled] = {}
_LOCK = threading.Lock()


def read_overview(session: Session, account_sid: str) -> tuple[Overview, datetime]:
    """Everything the page shows, and when its settled days were read."""
    now = utcnow()
    start = window_start(now.date())
    recent = window_start(now.date(), days=1)
    connection = session.connection()
    key = (id(session.get_bind()), account_sid)
    settled = _SETTLED.get(key)
    if settled is None or settled.start != start or now - settled.read_at > SETTLED_TTL:
        settled = _Settled(
            start,
            now,
            message_totals(connection, account_sid, start, recent),
            consent_totals(connection, account_sid, start, recent),
            error_totals(connection, account_sid, start, recent),
        )
        with _LOCK:
            _SETTLED[key] = settled
    far = now + timedelta(days=1)
    names = {s.sid: s.label for s in scopes(session, account_sid) if s.kind == "service"}
    overview = summarize(
        window_days(now.date()),
        settled.messages + message_totals(connection, account_sid, recent, far),
        settled.consents + recent_consent_totals(connection, account_sid, recent),
        settled.errors + error_totals(connection, account_sid, recent, far),
        send_latencies(connection, account_sid, now - LATENCY_WINDOW),
        names,
    )
    return overview, settled.read_at


async def show(page: Page) -> Response:
    overview, settled_at = await page.read(read_overview, page.account_sid)
    labels = {
        "inbound": page.gettext("Inbound"),
        "outbound": page.gettext("Outbound"),
        "opt_outs": page.gettext("Opt-outs"),
        "opt_ins": page.gettext("Opt-ins"),
    }
    charts = [
        (
            name,
            labels[name],
            sum(overview.series[name]),
            daily_bars(overview.days, overview.series[name], series=name, label=labels[name]),
        )
        for name in SERIES
    ]
    state: PolicyState = page.request.app.state.policy
    return page.render(
        "overview.html",
        overview=overview,
        charts=charts,
        settled_at=settled_at,
        revision=state.matcher.revision if state.matcher else None,
        policy_errors=[str(e) for e in state.errors],
        policy_warnings=[str(w) for w in state.warnings],
    )
