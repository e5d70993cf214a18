"""Processes for the benchmarks: a gateway, the baseline server, a stand-in provider."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def process(args: list[str], env: dict[str, str], url: str,
            log: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(args, env={**os.environ, **env}, cwd=ROOT, stdout=output, stderr=output)
    try:
        wait_http(url)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log:
            output.close()


@contextmanager
def baseline() -> Iterator[int]:
    port = free_port()
    with process([PYTHON, "-m", "uvicorn", "bench.baseline:app", "--port", str(port), "--log-level", "warning"],
                 {}, f"http://127.0.0.1:{port}/"):
        yield port


class Gateway:
    def __init__(self, directory: Path, provider_url: str | None = None) -> None:
        self.directory = directory
        self.database = f"sqlite:///{directory / 'gateway.db'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.provider_url = provider_url
        self.env = {"GATEWAY_DATABASE_URL": self.database, "GATEWAY_PORT": str(self.port),
                    "GATEWAY_PUBLIC_URL": self.url,
                    "GATEWAY_POLICIES_DIR": str(ROOT / "policies"), "GATEWAY_LOCALES_DIR": str(ROOT / "locales"),
                    "GATEWAY_DEFAULT_PROVIDER": "twilio", "GATEWAY_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
                    "GATEWAY_TWILIO_AUTH_TOKEN": "bench-token", "GATEWAY_SIMULATOR": "0",
                    "GATEWAY_TWILIO_BASE_URL": provider_url or "http://127.0.0.1:9"}
        created = subprocess.run([PYTHON, "-m", "gateway.cli", "accounts", "create", "--json"], cwd=ROOT,
                                 env={**os.environ, **self.env}, capture_output=True, text=True, check=True)
        account = json.loads(created.stdout)
        self.account_sid, self.auth_token = account["account_sid"], account["auth_token"]

    @contextmanager
    def running(self, workers: bool = True) -> Iterator[subprocess.Popen[bytes]]:
        env = {**self.env, "GATEWAY_WORKERS": "1" if workers else "0"}
        with process([PYTHON, "-m", "gateway.cli", "serve"], env, f"{self.url}/healthz",
                     self.directory / "gateway.log") as proc:
            yield proc

    def post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.url}{path}", data=data, auth=(self.account_sid, self.auth_token), timeout=30)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def register(self, number: str, mps: int) -> dict[str, Any]:
        return self.post(f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json",
                         {"PhoneNumber": number, "Mps": str(mps), "Provider": "twilio"})


class StandInProvider:
    """Twilio's Messages endpoint reduced to what dispatch needs; records when each sender's messages arrive."""

    def __init__(self) -> None:
        self.arrivals: defaultdict[str, list[float]] = defaultdict(list)
        self.count = 0

        async def create(request: Request) -> JSONResponse:
            form = dict(parse_qsl((await request.body()).decode()))
            self.arrivals[form.get("From", "")].append(time.monotonic())
            self.count += 1
            return JSONResponse({"sid": f"SM{self.count:032x}", "status": "queued"}, status_code=201)

        self.app = Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", create, methods=["POST"])])

    @contextmanager
    def serving(self) -> Iterator[str]:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning",
                                               access_log=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)


def temp_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="gateway-bench-"))
