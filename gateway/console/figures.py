"""The overview's figures, computed from grouped rows: pure, so every rule here is tested alone.

Definitions (the page explains them in the same words):

- **Delivery rate**: delivered ÷ (delivered + undelivered + failed), outbound messages of the
  window; messages still on their way are left out until they end.
- **STOP rate** of a Messaging Service: opt-outs people texted (source `keyword`) in its scope ÷
  its messages delivered, the industry's usual definition.  Account-wide opt-outs (STOPALL) are
  counted against every delivered message of the account.
- **Health**, in the spirit of Twilio's messaging health score but from our own data, three
  parts, each good, fair or poor, the whole as good as its worst part:
  delivery (the rate above), compliance (the account's STOP rate) and latency (the 95th
  percentile of seconds from accepted to handed to the provider, newest 1,000 sends of the last
  day).  The thresholds are ours, chosen to flag what deserves a look, and are shown on the page.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.compliance.optouts import ACCOUNT_WIDE
from gateway.policy.evaluate import country_of

WINDOW_DAYS = 30
FINISHED = ("delivered", "undelivered", "failed")

GOOD, FAIR, POOR, NO_DATA = "good", "fair", "poor", "no_data"
_ORDER = {GOOD: 0, FAIR: 1, POOR: 2}
#: (good while at least / at most, fair while at least / at most): see the module docstring.
DELIVERY_THRESHOLDS = (0.95, 0.85)  # delivered share: at least
STOP_RATE_THRESHOLDS = (0.01, 0.02)  # opt-outs per delivered message: below
LATENCY_THRESHOLDS = (10.0, 60.0)  # seconds, 95th percentile: at most


def window_days(today: date, days: int = WINDOW_DAYS) -> list[str]:
    """The window's days as `YYYY-MM-DD`, oldest first, ending today."""
    return [(today - timedelta(days=offset)).isoformat() for offset in range(days - 1, -1, -1)]


def window_start(today: date, days: int = WINDOW_DAYS) -> datetime:
    """Midnight UTC of the window's first day."""
    start = today - timedelta(days=days - 1)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


@dataclass(frozen=True)
class Rate:
    label: str
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None


@dataclass(frozen=True)
class Grade:
    part: str  # delivery | compliance | latency
    grade: str  # good | fair | poor | no_data
    value: float | None


@dataclass
class Overview:
    days: list[str]
    series: dict[str, list[int]] = field(default_factory=dict)  # inbound, outbound, opt_outs, opt_ins
    delivered: int = 0
    undelivered: int = 0
    failed: int = 0
    stop_rates: list[Rate] = field(default_factory=list)
    errors_by_country: list[tuple[int, str, int]] = field(default_factory=list)
    errors_by_sender: list[tuple[int, str, int]] = field(default_factory=list)
    latency_p50: float | None = None
    latency_p95: float | None = None
    health: list[Grade] = field(default_factory=list)

    @property
    def delivery_rate(self) -> float | None:
        finished = self.delivered + self.undelivered + self.failed
        return self.delivered / finished if finished else None

    @property
    def overall(self) -> str:
        graded = [g.grade for g in self.health if g.grade != NO_DATA]
        return max(graded, key=_ORDER.__getitem__) if graded else NO_DATA


def summarize(
    days: Sequence[str],
    messages: Iterable[Any],
    consents: Iterable[Any],
    errors: Iterable[Any],
    latencies: Sequence[float],
    service_names: Mapping[str, str],
) -> Overview:
    """The overview from `store.traffic.message_totals`, `consent_totals`, `error_totals` and `send_latencies`."""
    index = {day: position for position, day in enumerate(days)}
    overview = Overview(list(days), {name: [0] * len(days) for name in ("inbound", "outbound", "opt_outs", "opt_ins")})
    delivered_by_service: defaultdict[str, int] = defaultdict(int)
    for row in messages:
        position = index.get(str(row.day))
        inbound = row.direction == "inbound"
        if position is not None:
            overview.series["inbound" if inbound else "outbound"][position] += row.count
        if inbound:
            continue
        if row.status in FINISHED:
            setattr(overview, row.status, getattr(overview, row.status) + row.count)
        if row.status == "delivered" and row.service_sid:
            delivered_by_service[row.service_sid] += row.count
    stops_by_scope: defaultdict[str, int] = defaultdict(int)
    for row in consents:
        position = index.get(str(row.day))
        if position is not None:
            overview.series["opt_outs" if row.opted_out else "opt_ins"][position] += row.count
        if row.opted_out and row.source == "keyword":
            stops_by_scope[row.scope] += row.count
    overview.stop_rates = [
        Rate(service_names[sid], stops_by_scope.get(sid, 0), delivered_by_service.get(sid, 0))
        for sid in sorted(service_names, key=service_names.__getitem__)
    ]
    if stops_by_scope.get(ACCOUNT_WIDE):
        overview.stop_rates.append(Rate(ACCOUNT_WIDE, stops_by_scope[ACCOUNT_WIDE], overview.delivered))
    overview.errors_by_country, overview.errors_by_sender = _errors(errors)
    overview.latency_p50, overview.latency_p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    all_stops = sum(stops_by_scope.values())
    stop_rate = all_stops / overview.delivered if overview.delivered else None
    overview.health = [
        Grade("delivery", _at_least(overview.delivery_rate, DELIVERY_THRESHOLDS), overview.delivery_rate),
        Grade("compliance", _below(stop_rate, STOP_RATE_THRESHOLDS), stop_rate),
        Grade("latency", _at_most(overview.latency_p95, LATENCY_THRESHOLDS), overview.latency_p95),
    ]
    return overview


def _errors(rows: Iterable[Any]) -> tuple[list[tuple[int, str, int]], list[tuple[int, str, int]]]:
    """Error codes by the recipient's country and by sender, most frequent first."""
    by_country: defaultdict[tuple[int, str], int] = defaultdict(int)
    by_sender: defaultdict[tuple[int, str], int] = defaultdict(int)
    for row in rows:
        by_country[(row.error_code, country_of(row.sample) or "?")] += row.count
        by_sender[(row.error_code, row.sender or "?")] += row.count
    ordered = sorted(by_country.items(), key=lambda item: (-item[1], item[0]))
    senders = sorted(by_sender.items(), key=lambda item: (-item[1], item[0]))
    return [(code, where, n) for (code, where), n in ordered], [(code, who, n) for (code, who), n in senders]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile (the value at rank ⌈fraction × n⌉ of the sorted values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _at_least(value: float | None, thresholds: tuple[float, float]) -> str:
    if value is None:
        return NO_DATA
    return GOOD if value >= thresholds[0] else FAIR if value >= thresholds[1] else POOR


def _below(value: float | None, thresholds: tuple[float, float]) -> str:
    if value is None:
        return NO_DATA
    return GOOD if value < thresholds[0] else FAIR if value < thresholds[1] else POOR


def _at_most(value: float | None, thresholds: tuple[float, float]) -> str:
    if value is None:
        return NO_DATA
    return GOOD if value <= thresholds[0] else FAIR if value <= thresholds[1] else POOR
