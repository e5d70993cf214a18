"""Every Prometheus series the gateway exposes, and the one-line calls that feed them.

Names follow Prometheus's conventions: the `gateway_` prefix, counters end in `_total`,
durations are histograms in `_seconds`, the serving policy revision is an `_info` gauge.
Labels are bounded vocabularies (provider, status, error code, keyword kind, language, scope
kind, route template) or a sender's sid; never a phone number (a person's, or a sender's
own, which the sid stands for: look it up with the API or the console) and never a message
sid, which would make one series per message.

Counts of what a transaction wrote (status changes, consent changes) are taken once it
committed (`store.commits.after_commit`), so a refused or retried write is never counted.

Processes.  Each process counts its own; where several share a machine (`serve --workers N`,
`gateway worker` beside them) prometheus_client's multiprocess mode adds them up: every
process writes its values to files in `PROMETHEUS_MULTIPROC_DIR`, which `gateway serve` sets
before anything imports prometheus_client (`observability.multiproc`), and `/metrics` reads
them all.  Queue depth, oldest queued age and sender MPS are read from the database at each
scrape instead: they are facts of the whole deployment, not of one process.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from gateway.dates import utcnow
from gateway.store.commits import after_commit
from gateway.store.queue_stats import queue_by_sender

log = logging.getLogger("gateway.metrics")
disable_created_metrics()  # `_created` series double every counter; multiprocess mode has none either

#: Prometheus's text format, version 0.0.4 (what every scraper reads).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_REMOTE = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Histogram(
    "gateway_http_request_duration_seconds",
    "HTTP requests served, by method, route template and status code.",
    ["method", "route", "status"],
    buckets=_FAST,
)
INBOUND = Counter(
    "gateway_inbound_messages_total",
    "Inbound messages recorded (retried webhooks not counted again), by provider, keyword kind "
    "(STOP, START, HELP, or none) and the keyword's language.",
    ["provider", "kind", "language"],
)
OPT_OUTS = Counter(
    "gateway_opt_outs_total",
    "Consent changes to opted out, by scope (service, number, account) and source (keyword, api, console).",
    ["scope", "source"],
)
OPT_INS = Counter("gateway_opt_ins_total", "Consent changes to opted in, by scope and source.", ["scope", "source"])
OUTBOUND = Counter(
    "gateway_outbound_messages_total",
    "Status changes of messages toward phones (queued when accepted, then sent, delivered, "
    "undelivered, failed, canceled), by status and error code (empty: none).",
    ["status", "error_code"],
)
SENT_SEGMENTS = Counter(
    "gateway_sender_sent_segments_total",
    "Segments the provider accepted, by sender sid: rate() is the sender's achieved MPS.",
    ["sender"],
)
PROVIDER_REQUESTS = Histogram(
    "gateway_provider_request_duration_seconds",
    "Send requests to providers that got an answer, by provider.",
    ["provider"],
    buckets=_REMOTE,
)
PROVIDER_ERRORS = Counter(
    "gateway_provider_errors_total",
    "Send requests that failed, by provider and reason (transport, timeout, throttled, server_error, rejected).",
    ["provider", "reason"],
)
DELIVERY_ATTEMPTS = Counter(
    "gateway_app_delivery_attempts_total",
    "Requests to apps (forwards and status callbacks), by kind and result (delivered, http_4xx, http_5xx, transport).",
    ["kind", "result"],
)
DELIVERY_DURATION = Histogram(
    "gateway_app_delivery_duration_seconds", "Requests to apps, by kind.", ["kind"], buckets=_REMOTE
)
LINK_CLICKS = Counter(
    "gateway_link_clicks_total",
    "Requests for short links (ShortenUrls), by kind: human, or preview (a link previewer or scanner: "
    "its user agent, a HEAD request, or within a second of the delivery report).",
    ["kind"],
)
DEAD_LETTERS = Counter("gateway_app_dead_letters_total", "App deliveries given up (dead letters), by kind.", ["kind"])
POLICY_RELOADS = Counter(
    "gateway_policy_reloads_total",
    "Policy loads, by result: ok (a valid revision serves) or error (the edit was rejected and "
    "the last good revision keeps serving).",
    ["result"],
)
POLICY_REVISION = Gauge(
    "gateway_policy_revision_info",
    "The policy revision serving (1), by revision.",
    ["revision"],
    multiprocess_mode="livemax",
)
POLICY_ERRORS = Gauge(
    "gateway_policy_errors", "Errors of the latest policy edit (0: it serves).", multiprocess_mode="livemax"
)


def http_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).observe(seconds)


def inbound(provider: str, kind: str | None, language: str | None) -> None:
    INBOUND.labels(provider, kind or "none", language or "").inc()


def consent_changed(session: Session, scope: str, opted_out: bool, source: str) -> None:
    """Count a consent change once its transaction committed; `scope` as stored (`*`, MG…, PN…)."""
    after_commit(session, (OPT_OUTS if opted_out else OPT_INS).labels(scope_kind(scope), source).inc)


def scope_kind(scope: str) -> str:
    return "account" if scope == "*" else "service" if scope.startswith("MG") else "number"


def status_changed(session: Session, status: str, error_code: int | None) -> None:
    """Count an outbound message's status change once its transaction committed."""
    after_commit(session, OUTBOUND.labels(status, "" if error_code is None else str(error_code)).inc)


def sent(sender_sid: str, segments: int) -> None:
    SENT_SEGMENTS.labels(sender_sid).inc(segments)


def provider_answered(provider: str, seconds: float) -> None:
    PROVIDER_REQUESTS.labels(provider).observe(seconds)


def provider_failed(provider: str, reason: str) -> None:
    PROVIDER_ERRORS.labels(provider, reason).inc()


def delivery_attempt(kind: str, status: int | None, seconds: float) -> None:
    """One request to an app: `status` None when no answer came (connection error, timeout)."""
    result = (
        "transport" if status is None else "delivered" if status < 400 else "http_5xx" if status >= 500 else "http_4xx"
    )
    DELIVERY_ATTEMPTS.labels(kind, result).inc()
    DELIVERY_DURATION.labels(kind).observe(seconds)


def link_clicked(session: Session, kind: str, count: int = 1) -> None:
    """Count clicks on short links once they are recorded."""
    after_commit(session, lambda: LINK_CLICKS.labels(kind).inc(count))


def dead_letter(session: Session, kind: str) -> None:
    after_commit(session, DEAD_LETTERS.labels(kind).inc)


def policy_loaded(revision: str | None, previous: str | None, errors: int) -> None:
    """A load of the policy files: `revision` is the one serving after it, `errors` the edit's."""
    POLICY_RELOADS.labels("ok" if errors == 0 else "error").inc()
    POLICY_ERRORS.set(errors)
    if previous is not None and previous != revision:
        POLICY_REVISION.labels(previous).set(0)
    if revision is not None:
        POLICY_REVISION.labels(revision).set(1)


class _Queue(Collector):
    """The deployment's queue, read from the database at scrape time."""

    def __init__(self, engine: Engine, now: datetime) -> None:
        self.engine, self.now = engine, now

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "gateway_queue_messages", "Messages waiting or being sent, by sender sid.", labels=["sender"]
        )
        oldest = GaugeMetricFamily(
            "gateway_queue_oldest_age_seconds", "Age of the oldest message waiting, by sender sid.", labels=["sender"]
        )
        mps = GaugeMetricFamily(
            "gateway_sender_mps",
            "The sender's configured rate (segments per second), for senders with a queue.",
            labels=["sender"],
        )
        try:
            with self.engine.connect() as connection:
                rows = queue_by_sender(connection)
        except SQLAlchemyError as exc:  # the process's own series are worth having most when the database is down
            log.warning("/metrics: the queue could not be read: %s", type(exc).__name__)
            rows = []
            up = 0
        else:
            up = 1
        for row in rows:
            depth.add_metric([row.sender_sid], row.messages)
            oldest.add_metric([row.sender_sid], max(0.0, (self.now - row.oldest).total_seconds()))
            mps.add_metric([row.sender_sid], row.mps)
        yield from (depth, oldest, mps)
        yield GaugeMetricFamily(
            "gateway_database_up", "Whether the database answered this scrape's queue query.", value=up
        )


def exposition(engine: Engine) -> bytes:
    """What `/metrics` answers: every process's counters on this machine, and the queue."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    queue = CollectorRegistry()
    queue.register(_Queue(engine, utcnow()))
    if directory is None:
        return generate_latest(REGISTRY) + generate_latest(queue)
    _forget_dead_processes(directory)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, directory)
    return generate_latest(registry) + generate_latest(queue)


def _forget_dead_processes(directory: str) -> None:
    """A process that died (a restarted worker, kill -9) no longer serves a policy revision: drop
    its live gauges.  Its counters stay, so the machine's totals never go backwards."""
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)
        except PermissionError:  # alive, someone else's
            pass
