"""Hot reload under a running server: edits take effect, broken edits never do."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from gateway.store.db import migrate
from tests.conftest import ES_MOBILE, ROOT
from tests.flows.server import serve
from tests.poll import wait_until


@pytest.fixture
def editable(tmp_path: Path) -> tuple[Settings, Path]:
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    settings = Settings(database_url=url, policies_dir=policies, locales_dir=ROOT / "locales",
                        policy_reload_interval=0.2)
    return settings, policies


def decide(base: str, body: str) -> dict:
    return httpx.post(f"{base}/v1/Policy/Test", data={"Body": body, "From": ES_MOBILE}).json()


RELOAD_PROMISE = 2.0  # seconds: the promise under test is "within 2 seconds"


def test_an_added_keyword_takes_effect_within_two_seconds(editable):
    """Adding NOMOLESTAR to the Spanish opt-outs makes it a STOP keyword, without a restart."""
    settings, policies = editable
    spanish = policies / "languages" / "es.toml"
    with serve(create_app(settings)) as base:
        before = decide(base, "NOMOLESTAR")
        assert before["kind"] is None
        spanish.write_text(spanish.read_text().replace('keywords = ["ALTO"', 'keywords = ["NOMOLESTAR", "ALTO"', 1))
        wait_until(lambda: decide(base, "NOMOLESTAR")["kind"] == "STOP", RELOAD_PROMISE)
        after = decide(base, "NOMOLESTAR")
        assert after["language"] == "es" and after["policy_revision"] != before["policy_revision"]


def test_a_broken_edit_keeps_the_last_good_revision_serving_and_is_reported(editable):
    settings, policies = editable
    spanish = policies / "languages" / "es.toml"
    with serve(create_app(settings)) as base:
        revision = httpx.get(f"{base}/readyz").json()["policy"]["revision"]
        spanish.write_text(spanish.read_text().replace('reply = "help"', 'reply = "ayuda"'))
        wait_until(lambda: httpx.get(f"{base}/readyz").json()["policy"]["errors"], RELOAD_PROMISE)
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["policy"]["revision"] == revision and ready["status"] == "ready"
        assert "languages/es.toml" in ready["policy"]["errors"][0] and "unknown reply 'ayuda'" in ready["policy"]["errors"][0]
        assert decide(base, "AYUDA")["kind"] == "HELP"
