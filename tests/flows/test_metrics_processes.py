"""Metrics across processes: `gateway serve --workers 2` and a `gateway worker` on one machine add up
their counts in every scrape, whichever process answers it (PostgreSQL: several processes).

The API processes count the sends they accepted, the worker process the sends it dispatched; each
scrape, answered by either API process, must show all of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bench.harness import Gateway
from gateway.observability.metrics import exposition
from gateway.observability.multiproc import metrics_directory
from gateway.providers.simulator import SimulatorConfig, create_simulator
from gateway.settings import Settings
from gateway.store.db import make_engine, migrate
from tests.conftest import ROOT, US_MOBILE
from tests.flows.server import serve
from tests.poll import wait_until
from tests.postgres import new_database

METRICS_TOKEN = "scraper-token"
SENDER = "+12015550130"
SENDS = 30
ROUTE = "/2010-04-01/Accounts/{account_sid}/Messages.json"


def scrape(gateway: Gateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """One scrape on a new connection (so either API process may answer)."""
    response = httpx.get(
        f"{gateway.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}", "Connection": "close"}
    )
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def deployment(tmp_path: Path, provider_url: str, database_url: str, **env: str) -> Gateway:
    return Gateway(tmp_path, provider_url, database_url, env={"GATEWAY_METRICS_TOKEN": METRICS_TOKEN, **env})


def _send_all(gateway: Gateway) -> str:
    sender = gateway.register(SENDER, mps=50)
    for _ in range(SENDS):
        gateway.post(
            f"/2010-04-01/Accounts/{gateway.account_sid}/Messages.json",
            {"From": SENDER, "To": US_MOBILE, "Body": "Your table is ready"},
        )
    return str(sender["sid"])


def test_two_api_processes_and_a_worker_process_add_up_in_every_scrape(postgres, tmp_path):
    simulator = create_simulator(SimulatorConfig(auth_token="bench-token", delay=0.05))
    with serve(simulator) as provider_url:
        gateway = deployment(
            tmp_path, provider_url, new_database(postgres), GATEWAY_METRICS_DIR=str(tmp_path / "metrics")
        )
        api, worker = gateway.node(workers=False, processes=2), gateway.worker(worker_id="worker-a")
        try:
            api.start()
            worker.start()
            sender_sid = _send_all(gateway)
            sent = {("gateway_sender_sent_segments_total", frozenset({("sender", sender_sid)}))}
            wait_until(lambda: all(scrape(gateway).get(key) == SENDS for key in sent), timeout=30)
            for _ in range(8):
                samples = scrape(gateway)
                accepted = samples.get(
                    (
                        "gateway_http_request_duration_seconds_count",
                        frozenset({("method", "POST"), ("route", ROUTE), ("status", "201")}),
                    )
                )
                queued = samples.get(
                    ("gateway_outbound_messages_total", frozenset({("status", "queued"), ("error_code", "")}))
                )
                assert (accepted, queued) == (SENDS, SENDS)  # counted by both API processes
                assert samples.get(next(iter(sent))) == SENDS  # counted by the worker process
        finally:
            worker.stop()
            api.stop()


def test_serve_makes_a_metrics_directory_for_its_run_and_removes_it_when_it_stops(postgres, tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    simulator = create_simulator(SimulatorConfig(auth_token="bench-token", delay=0.05))
    with serve(simulator) as provider_url:
        gateway = deployment(tmp_path, provider_url, new_database(postgres), TMPDIR=str(temporary))
        api = gateway.node(workers=True, processes=2)
        try:
            api.start()
            _send_all(gateway)
            made = list(temporary.glob("gateway-metrics-*"))
            assert len(made) == 1 and list(made[0].glob("*.db"))
            assert (
                scrape(gateway).get(
                    ("gateway_outbound_messages_total", frozenset({("status", "queued"), ("error_code", "")}))
                )
                == SENDS
            )
        finally:
            api.stop()
    assert list(temporary.glob("gateway-metrics-*")) == []


def _count_in_a_process_that_ends(directory: Path, revision: str) -> None:
    """Another process, now gone, that served `revision` and counted one inbound STOP."""
    code = (
        "from gateway.observability import metrics; "
        f"metrics.policy_loaded({revision!r}, None, 0); metrics.inbound('twilio', 'STOP', 'en')"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)},
        cwd=ROOT,
        check=True,
    )


def test_a_dead_processs_revision_is_dropped_and_its_counts_kept(tmp_path, monkeypatch):
    directory = tmp_path / "metrics"
    directory.mkdir()
    _count_in_a_process_that_ends(directory, "0123456789ab")
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(database)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    engine = make_engine(database)
    try:
        samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(exposition(engine).decode())
            for sample in family.samples
        }
    finally:
        engine.dispose()
    inbound = (
        "gateway_inbound_messages_total",
        frozenset({("provider", "twilio"), ("kind", "STOP"), ("language", "en")}),
    )
    assert samples.get(inbound) == 1
    assert not [key for key in samples if key[0] == "gateway_policy_revision_info"]


def test_serve_clears_a_shared_metrics_directory_no_live_process_writes_to(tmp_path):
    """What a restarted `serve` finds there belongs to processes that are gone: its counts start at zero."""
    directory = tmp_path / "metrics"
    directory.mkdir()
    _count_in_a_process_that_ends(directory, "0123456789ab")
    assert list(directory.glob("*.db"))
    code = (
        "from pathlib import Path; from gateway.observability.multiproc import metrics_directory; "
        f"from gateway.settings import Settings; metrics_directory(Settings(metrics_dir=Path({str(directory)!r})), "
        "serving=True)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    assert list(directory.glob("*.db")) == []


def test_the_directory_cannot_be_chosen_once_prometheus_client_is_imported(tmp_path):
    """This process imported it (the tests' apps count in memory): its values would go unseen."""
    with pytest.raises(RuntimeError, match="imported before"):
        metrics_directory(Settings(metrics_dir=tmp_path), serving=True)
