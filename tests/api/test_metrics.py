"""/metrics where the flows do not reach: a rejected policy edit, and a database that does not answer."""

from __future__ import annotations

import shutil

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from gateway.app import create_app
from tests.conftest import ROOT

TOKEN = "metrics-test-token"


def scrape(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_a_rejected_policy_edit_counts_as_an_error_reload_with_its_errors(settings, tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    (policies / "global.toml").write_text("language = ", encoding="utf-8")
    errors = ("gateway_policy_reloads_total", frozenset({("result", "error")}))
    with TestClient(create_app(settings.with_(policies_dir=policies, metrics_token=TOKEN))) as client:
        before = scrape(client).get(errors, 0.0)
        client.app.state.policy.reload()  # type: ignore[attr-defined]  (what the watcher does on an edit)
        samples = scrape(client)
    assert samples[errors] == before + 1
    assert samples[("gateway_policy_errors", frozenset())] >= 1


def test_metrics_still_answer_when_the_database_does_not(settings, tmp_path):
    """The process's own series matter most then; the queue's are missing and `gateway_database_up` is 0."""
    broken = settings.with_(database_url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}", metrics_token=TOKEN)
    with TestClient(create_app(broken)) as client:
        samples = scrape(client)
    assert samples[("gateway_database_up", frozenset())] == 0
    assert not [key for key in samples if key[0] == "gateway_queue_messages"]
