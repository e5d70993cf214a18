"""`gateway serve --demo` as a newcomer starts it (`make run`): a subprocess from the venv, on a free
port, with its own SQLite file, and what its banner prints (the credentials, the service, the lines
to try)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.flows.server import free_port
from tests.poll import wait_until

VENV_BIN = Path(sys.executable).parent  # the gateway command of the venv that runs the tests


@dataclass
class Demo:
    base: str
    port: int
    account_sid: str
    auth_token: str
    service_sid: str
    banner: str
    env: dict[str, str] = field(repr=False)


def demo_environment(directory: Path, port: int) -> dict[str, str]:
    """What a shell next to the demo has: its database and port, and the venv's commands first on PATH."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GATEWAY_")}
    env.update(
        GATEWAY_DATABASE_URL=f"sqlite:///{directory / 'gateway.db'}",
        GATEWAY_PORT=str(port),
        GATEWAY_SIMULATOR_DELAY="0.05",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def demo_gateway(directory: Path) -> Iterator[Demo]:
    """Run `gateway serve --demo` until the block ends; yield what its banner printed."""
    port = free_port()
    env = demo_environment(directory, port)
    log_path = directory / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [str(VENV_BIN / "gateway"), "serve", "--demo"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: server.poll() is not None or _answers(f"{base}/readyz"), timeout=60)
            banner = log_path.read_text()
            assert server.poll() is None, banner
            account = re.search(r"account_sid (AC\w+)\n\s*auth_token\s+(\w+)", banner)
            service = re.search(r"service\s+(MG\w+)", banner)
            assert account and service, banner
            yield Demo(base, port, account[1], account[2], service[1], banner, env)
        finally:
            server.terminate()
            server.wait(15)
