"""The overview page: 30 days of traffic and consent as charts, delivery, errors, STOP rates, policy, health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from gateway.console import queries
from gateway.console.charts import daily_bars
from gateway.console.figures import Overview, summarize, window_days, window_start
from gateway.console.web import Page
from gateway.policy.watcher import PolicyState
from gateway.store.db import utcnow

SERIES = ("inbound", "outbound", "opt_outs", "opt_ins")
LATENCY_WINDOW = timedelta(days=1)


def read_overview(engine: Any, account_sid: str) -> Overview:
    """Everything the page shows, in four grouped reads."""
    now = utcnow()
    days = window_days(now.date())
    since = window_start(now.date())
    with engine.connect() as connection:
        names = {s.sid: s.label for s in queries.scopes(connection, account_sid) if s.kind == "service"}
        return summarize(days, queries.message_totals(connection, account_sid, since),
                         queries.consent_totals(connection, account_sid, since),
                         queries.error_totals(connection, account_sid, since),
                         queries.send_latencies(connection, account_sid, now - LATENCY_WINDOW), names)


async def show(page: Page) -> Response:
    overview = await run_in_threadpool(read_overview, page.engine, page.account_sid)
    labels = {"inbound": page.gettext("Inbound"), "outbound": page.gettext("Outbound"),
              "opt_outs": page.gettext("Opt-outs"), "opt_ins": page.gettext("Opt-ins")}
    charts = [(name, labels[name], sum(overview.series[name]),
               daily_bars(overview.days, overview.series[name], series=name, label=labels[name])) for name in SERIES]
    state: PolicyState = page.request.app.state.policy
    return page.render("overview.html", overview=overview, charts=charts,
                       revision=state.matcher.revision if state.matcher else None,
                       policy_errors=[str(e) for e in state.errors], policy_warnings=[str(w) for w in state.warnings])
