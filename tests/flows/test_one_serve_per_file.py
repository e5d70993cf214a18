"""One `gateway serve` per SQLite file: a serve takes back at start every lease and claimed message
of the file, so a second one beside it would take the first one's work and send it again."""

from __future__ import annotations

import subprocess

import httpx

from bench.harness import PYTHON, ROOT, Gateway, free_port


def _second_serve(gateway: Gateway) -> subprocess.CompletedProcess[str]:
    env = {**gateway.env, "GATEWAY_PORT": str(free_port())}
    return subprocess.run(
        [PYTHON, "-m", "gateway.cli", "serve", "--workers", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_serve_on_the_same_sqlite_file_is_refused(tmp_path) -> None:
    gateway = Gateway(tmp_path)
    with gateway.node(workers=True, processes=2):
        second = _second_serve(gateway)
    assert second.returncode == 1
    assert "another `gateway serve` is using the database" in second.stderr


def test_the_file_is_free_again_once_its_serve_was_killed(tmp_path) -> None:
    gateway = Gateway(tmp_path)
    first = gateway.node(workers=True)
    first.start()
    first.kill()  # kill -9: no shutdown code runs; the claim ends with the process
    second = gateway.node(workers=True)
    with second:
        assert second.proc is not None and second.proc.poll() is None  # not refused: it serves
        assert httpx.get(f"{gateway.url}/healthz").status_code == 200
    assert "another `gateway serve`" not in second.log.read_text()
