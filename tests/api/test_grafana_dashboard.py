"""The shipped Grafana dashboard charts what /metrics exposes, and nothing it does not."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from gateway.app import create_app
from tests.conftest import ROOT

DASHBOARD = ROOT / "gateway" / "observability" / "grafana_dashboard.json"
TOKEN = "dashboard-test-token"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",), "info": ("_info",)}


def expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr":
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def charted() -> set[str]:
    exprs = list(expressions(json.loads(DASHBOARD.read_text())))
    assert exprs
    return {name for expr in exprs for name in re.findall(r"\bgateway_[a-z0-9_]+", expr)}


def exposed(settings) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    """Family → the sample names a query may use, from a real scrape."""
    with TestClient(create_app(settings.with_(metrics_token=TOKEN))) as client:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return {
        family.name: {family.name + suffix for suffix in SUFFIXES[family.type]}
        for family in text_string_to_metric_families(response.text)
        if family.name.startswith("gateway_")
    }


def test_every_dashboard_query_names_a_series_metrics_exposes(settings):
    names = set().union(*exposed(settings).values())
    assert charted() - names == set()


def test_the_dashboard_charts_every_gateway_series(settings):
    charted_names = charted()
    uncharted = [family for family, samples in exposed(settings).items() if not samples & charted_names]
    assert uncharted == []
