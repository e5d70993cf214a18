"""Metrics across processes: `gateway serve --workers 2` and a `gateway worker` on one machine add up
their counts in every scrape, whichever process answers it (PostgreSQL: several processes).

The API processes count the sends they accepted, the worker process the sends it dispatched; each
scrape, answered by either API process, must show all of them.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.harness import Gateway
from gateway.providers.simulator import SimulatorConfig, create_simulator
from tests.conftest import US_MOBILE
from tests.flows.server import serve
from tests.poll import wait_until
from tests.postgres import new_database

METRICS_TOKEN = "scraper-token"
SENDER = "+12015550130"
SENDS = 30
ROUTE = "/2010-04-01/Accounts/{account_sid}/Messages.json"


def scrape(gateway: Gateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """One scrape on a new connection (so either API process may answer)."""
    response = httpx.get(f"{gateway.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}",
                                                            "Connection": "close"})
    assert response.status_code == 200, response.text
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def deployment(tmp_path: Path, provider_url: str, database_url: str, **env: str) -> Gateway:
    return Gateway(tmp_path, provider_url, database_url, env={"GATEWAY_METRICS_TOKEN": METRICS_TOKEN, **env})


def _send_all(gateway: Gateway) -> str:
    sender = gateway.register(SENDER, mps=50)
    for _ in range(SENDS):
        gateway.post(f"/2010-04-01/Accounts/{gateway.account_sid}/Messages.json",
                     {"From": SENDER, "To": US_MOBILE, "Body": "Your table is ready"})
    return str(sender["sid"])


def test_two_api_processes_and_a_worker_process_add_up_in_every_scrape(postgres, tmp_path):
    simulator = create_simulator(SimulatorConfig(auth_token="bench-token", delay=0.05))
    with serve(simulator) as provider_url:
        gateway = deployment(tmp_path, provider_url, new_database(postgres),
                             GATEWAY_METRICS_DIR=str(tmp_path / "metrics"))
        api, worker = gateway.node(workers=False, processes=2), gateway.worker(worker_id="worker-a")
        try:
            api.start()
            worker.start()
            sender_sid = _send_all(gateway)
            sent = {("gateway_sender_sent_segments_total", frozenset({("sender", sender_sid)}))}
            wait_until(lambda: all(scrape(gateway).get(key) == SENDS for key in sent), timeout=30)
            for _ in range(8):
                samples = scrape(gateway)
                accepted = samples.get(("gateway_http_request_duration_seconds_count", frozenset(
                    {("method", "POST"), ("route", ROUTE), ("status", "201")})))
                queued = samples.get(("gateway_outbound_messages_total",
                                      frozenset({("status", "queued"), ("error_code", "")})))
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
            assert scrape(gateway).get(("gateway_outbound_messages_total",
                                        frozenset({("status", "queued"), ("error_code", "")}))) == SENDS
        finally:
            api.stop()
    assert list(temporary.glob("gateway-metrics-*")) == []
