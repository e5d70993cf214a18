"""`gateway serve --demo` and `gateway sim inbound` as a newcomer meets them: the banner's lines work
for the port the demo serves on, a refusal says who refused, a busy port prints no credentials."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.demo import VENV_BIN, Demo, demo_environment, demo_gateway
from tests.flows.server import free_port


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    with demo_gateway(tmp_path_factory.mktemp("demo")) as running:
        yield running


def test_the_banner_prints_a_sim_inbound_line_for_its_own_port(demo):
    """The banner's `sim inbound` line names the demo's URL and works from a shell that knows
    nothing of the port (no GATEWAY_PORT)."""
    [line] = re.findall(r"^\s+(\S+ sim inbound .*)$", demo.banner, re.MULTILINE)
    assert f"--url {demo.base} " in line
    env = {name: value for name, value in demo.env.items() if name != "GATEWAY_PORT"}
    done = subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout[:4]) == (0, "200 "), done.stderr


def test_a_refused_sim_inbound_names_the_url_it_posted_to(demo):
    """A gateway that does not know the token answers 403; the command says which URL answered."""
    done = subprocess.run(
        [
            str(VENV_BIN / "gateway"),
            "sim",
            "inbound",
            "--url",
            demo.base,
            "--token",
            "not-this-one",
            "--from",
            "+33612345678",
            "--to",
            "+12015550123",
            "Arrêt",
        ],
        cwd=ROOT,
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert f"gateway sim inbound: {demo.base}/webhooks/sim/inbound answered 403 " in done.stderr


def test_serve_demo_on_a_busy_port_fails_before_printing_credentials(tmp_path: Path):
    """The port is bound first: nothing of the demo account is printed when it is taken."""
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(
            [str(VENV_BIN / "gateway"), "serve", "--demo"],
            cwd=ROOT,
            env=demo_environment(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"gateway serve: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "auth_token" not in done.stdout + done.stderr and "sim-token" not in done.stdout + done.stderr
