"""The gateway as someone who installs it gets it: built into an sdist, then a wheel from that sdist,
installed into a fresh venv and run from an empty folder, far from any checkout.

Offline and quick: the build uses this venv's setuptools (no build isolation), the wheel goes in
with `--no-deps --no-index`, and the new venv finds its dependencies in this venv's site-packages
through a `.pth` line (a plain path: the editable install's finder, a `.pth` of its own, is not
run there, so the checkout's `gateway` stays out of reach).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from gateway.demo import DEMO_NUMBER
from tests.conftest import FR_MOBILE, ROOT
from tests.flows.server import free_port
from tests.poll import wait_until

NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    "*.db",
    "*.db-*",
    "*.sim-token",
    "*.secret-key",
    ".coverage",
)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `bin` folder of a venv holding the gateway's wheel, built from its sdist."""
    work = tmp_path_factory.mktemp("package")
    source, dist = work / "source", work / "dist"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    subprocess.run(
        [sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})"],
        cwd=source,
        check=True,
        capture_output=True,
    )
    [sdist] = dist.glob("*.tar.gz")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(sdist),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = dist.glob("*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = subprocess.run(
        [venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return venv / "bin"


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def environment(**settings: str) -> dict[str, str]:
    """No GATEWAY_* setting and no PYTHONPATH of the test run: only what is given."""
    kept = {
        name: value for name, value in os.environ.items() if not name.startswith("GATEWAY_") and name != "PYTHONPATH"
    }
    return kept | {f"GATEWAY_{name.upper()}": value for name, value in settings.items()}


def gateway(installed: Path, folder: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [installed / "gateway", *args],
        cwd=folder,
        env=environment(**settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_installed_gateway_checks_the_policies_it_ships(installed, empty):
    checked = gateway(installed, empty, "policy", "check")
    assert checked.returncode == 0, checked.stderr
    [summary] = [line for line in checked.stdout.splitlines() if ": valid, revision " in line]
    assert summary.startswith(str(installed.parent / "lib"))  # the package's own copy, not a checkout's
    assert summary.split(": valid")[0].endswith("gateway/_shipped/policies")


def test_the_installed_gateway_says_its_version(installed, empty):
    assert gateway(installed, empty, "--version").stdout == "gateway 0.1.0\n"


def test_the_installed_demo_opts_out_a_french_arret_and_confirms_in_french(installed, empty):
    port = str(free_port())
    server = subprocess.Popen(
        [installed / "gateway", "serve", "--demo"],
        cwd=empty,
        env=environment(port=port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: _healthy(f"http://127.0.0.1:{port}/healthz") or server.poll() is not None,
            timeout=30,
            message="the installed gateway did not start",
        )
        assert server.poll() is None, "the installed gateway stopped"
        sent = gateway(installed, empty, "sim", "inbound", "--from", FR_MOBILE, "--to", DEMO_NUMBER, "Arrêt", port=port)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        database = sqlite3.connect(empty / "gateway.db")
        try:
            assert database.execute("SELECT opted_out FROM opt_out WHERE number = ?", (FR_MOBILE,)).fetchall() == [(1,)]
            replies = wait_until(
                lambda: database.execute(
                    "SELECT body FROM message WHERE direction = 'outbound-reply' AND \"to\" = ?", (FR_MOBILE,)
                ).fetchall()
            )
        finally:
            database.close()
        assert "désinscription confirmée" in replies[0][0]
    finally:
        server.terminate()
        server.wait(20)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
