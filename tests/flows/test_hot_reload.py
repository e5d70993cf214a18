"""Hot reload under a running server: edits take effect, broken edits never do."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

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
    settings = Settings(
        database_url=url,
        policies_dir=policies,
        locales_dir=ROOT / "locales",
        policy_reload_interval=0.2,
        api_rate_limit=1e6,
        api_rate_burst=10**6,
    )  # load, not limits
    return settings, policies


def staff_app(settings: Settings) -> tuple[Starlette, tuple[str, str]]:
    """The gateway and an account's credentials, which the policy endpoints ask for."""
    app = create_app(settings)
    account = app.state.accounts.create("compliance")
    return app, (account.sid, account.auth_token)


def decide(base: str, auth: tuple[str, str], body: str) -> dict:
    return httpx.post(f"{base}/v1/Policy/Test", data={"Body": body, "From": ES_MOBILE}, auth=auth).json()


RELOAD_PROMISE = 2.0  # seconds: the promise under test is "within 2 seconds"


def test_an_added_keyword_takes_effect_within_two_seconds(editable):
    """Adding NOMOLESTAR to the Spanish opt-outs makes it a STOP keyword, without a restart."""
    settings, policies = editable
    spanish = policies / "languages" / "es.toml"
    app, auth = staff_app(settings)
    with serve(app) as base:
        before = decide(base, auth, "NOMOLESTAR")
        assert before["kind"] is None
        spanish.write_text(spanish.read_text().replace('keywords = ["ALTO"', 'keywords = ["NOMOLESTAR", "ALTO"', 1))
        wait_until(lambda: decide(base, auth, "NOMOLESTAR")["kind"] == "STOP", RELOAD_PROMISE)
        after = decide(base, auth, "NOMOLESTAR")
        assert after["language"] == "es" and after["policy_revision"] != before["policy_revision"]


def test_a_broken_edit_keeps_the_last_good_revision_serving_and_is_reported(editable):
    settings, policies = editable
    spanish = policies / "languages" / "es.toml"
    app, auth = staff_app(settings)
    with serve(app) as base:
        revision = httpx.get(f"{base}/readyz").json()["policy"]["revision"]
        spanish.write_text(spanish.read_text().replace('reply = "help"', 'reply = "ayuda"'))
        wait_until(lambda: httpx.get(f"{base}/readyz").json()["policy"]["errors"], RELOAD_PROMISE)
        ready = httpx.get(f"{base}/readyz").json()
        assert ready["policy"]["revision"] == revision and ready["status"] == "ready"
        assert (
            "languages/es.toml" in ready["policy"]["errors"][0]
            and "unknown reply 'ayuda'" in ready["policy"]["errors"][0]
        )
        assert decide(base, auth, "AYUDA")["kind"] == "HELP"


def test_broken_edits_under_load_fail_no_request_and_the_last_good_revision_keeps_serving(editable):
    """While four clients keep asking what AYUDA means, the Spanish file is cut off mid-write, then given
    an unknown reply: every answer is 200 from the last good revision (HELP), and each error is reported."""
    settings, policies = editable
    spanish = policies / "languages" / "es.toml"
    good = spanish.read_text()
    answers: list[tuple[int, str | None, str | None]] = []
    stop = threading.Event()

    app, auth = staff_app(settings)

    def ask(base: str) -> None:
        with httpx.Client(auth=auth) as client:
            while not stop.is_set():
                response = client.post(f"{base}/v1/Policy/Test", data={"Body": "AYUDA", "From": ES_MOBILE})
                body = response.json() if response.status_code == 200 else {}
                answers.append((response.status_code, body.get("policy_revision"), body.get("kind")))

    with serve(app) as base:
        revision = httpx.get(f"{base}/readyz").json()["policy"]["revision"]
        clients = [threading.Thread(target=ask, args=(base,)) for _ in range(4)]
        for thread in clients:
            thread.start()
        try:
            for broken, reported in (
                (good[: len(good) // 2], "languages/es.toml"),
                (good.replace('reply = "help"', 'reply = "ayuda"'), "unknown reply 'ayuda'"),
            ):
                flowing = len(answers)
                spanish.write_text(broken)
                wait_until(
                    lambda reported=reported: any(
                        reported in error for error in httpx.get(f"{base}/readyz").json()["policy"]["errors"]
                    ),
                    RELOAD_PROMISE,
                )
                wait_until(lambda flowing=flowing: len(answers) > flowing + 50, 20)  # requests went on meanwhile
        finally:
            stop.set()
            for thread in clients:
                thread.join()
        assert httpx.get(f"{base}/readyz").json()["policy"]["revision"] == revision
    assert answers and set(answers) == {(200, revision, "HELP")}
