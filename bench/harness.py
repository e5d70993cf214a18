"""Processes for the benchmarks: a gateway, the baseline server, a stand-in provider."""

from __future__ import annotations

import json
import os
import signal
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
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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
def process(
    args: list[str], env: dict[str, str], url: str, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
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
    with process(
        [PYTHON, "-m", "uvicorn", "bench.baseline:app", "--port", str(port), "--log-level", "warning"],
        {},
        f"http://127.0.0.1:{port}/",
    ):
        yield port


class Node:
    """One gateway process (`serve` or `worker`) that a test or benchmark can kill and start again."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, ready_url: str | None) -> None:
        self.args, self.env, self.log, self.ready_url = args, env, log, ready_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        mark = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as output:
            self.proc = subprocess.Popen(  # a session of its own: `kill` reaches `serve --workers N`'s processes
                self.args,
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        if self.ready_url is not None:
            wait_http(self.ready_url, timeout)
            return
        deadline = time.monotonic() + timeout
        while b" started" not in self.log.read_bytes()[mark:]:  # `gateway worker` logs "worker NAME started"
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{self.args} did not start; see {self.log}")
            time.sleep(0.05)

    def kill(self) -> None:
        """kill -9, of every process it started too: no shutdown code runs."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Node:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Gateway:
    """A gateway deployment for tests and benchmarks: a database with an account, and the
    processes (`node`, `worker`) that serve it, all with the same settings."""

    def __init__(
        self,
        directory: Path,
        provider_url: str | None = None,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.database = database_url or f"sqlite:///{directory / 'gateway.db'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.provider_url = provider_url
        self.env = {
            "GATEWAY_DATABASE_URL": self.database,
            "GATEWAY_PORT": str(self.port),
            "GATEWAY_PUBLIC_URL": self.url,
            "GATEWAY_POLICIES_DIR": str(ROOT / "policies"),
            "GATEWAY_LOCALES_DIR": str(ROOT / "locales"),
            "GATEWAY_DEFAULT_PROVIDER": "twilio",
            "GATEWAY_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "GATEWAY_TWILIO_AUTH_TOKEN": "bench-token",
            "GATEWAY_SIMULATOR": "0",
            "GATEWAY_TWILIO_BASE_URL": provider_url or "http://127.0.0.1:9",
            # every process of the deployment seals and opens auth tokens with one key
            "GATEWAY_SECRET_KEY": Fernet.generate_key().decode(),
            # one account drives the whole load: the benchmarks measure the gateway, not its rate limit
            "GATEWAY_API_RATE_LIMIT": "1000000",
            "GATEWAY_API_RATE_BURST": "1000000",
            # the stand-in apps and providers listen on loopback, which callbacks may not reach by default
            "GATEWAY_CALLBACK_ALLOW_NETWORKS": "127.0.0.0/8",
            **(env or {}),
        }
        created = subprocess.run(
            [PYTHON, "-m", "gateway.cli", "accounts", "create", "--json"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=True,
        )
        account = json.loads(created.stdout)
        self.account_sid, self.auth_token = account["account_sid"], account["auth_token"]
        self._names = 0

    def node(self, *, workers: bool = True, processes: int = 1, worker_id: str | None = None) -> Node:
        """`gateway serve` on this deployment's port (not started)."""
        env = {**self.env, "GATEWAY_WORKERS": "1" if workers else "0"}
        if worker_id:
            env["GATEWAY_WORKER_ID"] = worker_id
        return Node(
            [PYTHON, "-m", "gateway.cli", "serve", "--workers", str(processes)],
            env,
            self._log("serve"),
            f"{self.url}/healthz",
        )

    def worker(self, worker_id: str | None = None) -> Node:
        """`gateway worker` (not started)."""
        env = {**self.env, **({"GATEWAY_WORKER_ID": worker_id} if worker_id else {})}
        return Node([PYTHON, "-m", "gateway.cli", "worker"], env, self._log("worker"), None)

    def _log(self, kind: str) -> Path:
        self._names += 1
        return self.directory / f"{kind}-{self._names}.log"

    @contextmanager
    def running(self, workers: bool = True, processes: int = 1) -> Iterator[Node]:
        with self.node(workers=workers, processes=processes) as node:
            yield node

    def post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.url}{path}", data=data, auth=(self.account_sid, self.auth_token), timeout=30)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def register(self, number: str, mps: int) -> dict[str, Any]:
        return self.post(
            f"/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json",
            {"PhoneNumber": number, "Mps": str(mps), "Provider": "twilio"},
        )


class StandInProvider:
    """Twilio's Messages endpoint reduced to what dispatch needs; records when each sender's messages
    arrive.  It also stands in for the app: `/app` takes forwards and callbacks."""

    def __init__(self) -> None:
        self.arrivals: defaultdict[str, list[float]] = defaultdict(list)
        self.count = 0
        self.keys: defaultdict[str, int] = defaultdict(int)  # requests per idempotency key (message sid)
        self.forwards = 0
        self.url = ""

        async def create(request: Request) -> JSONResponse:
            form = dict(parse_qsl((await request.body()).decode()))
            self.arrivals[form.get("From", "")].append(time.monotonic())
            self.count += 1
            self.keys[request.headers.get("i-twilio-idempotency-token", "")] += 1
            return JSONResponse({"sid": f"SM{self.count:032x}", "status": "queued"}, status_code=201)

        async def app_webhook(request: Request) -> Response:
            await request.body()
            self.forwards += 1
            return Response(status_code=204)

        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", create, methods=["POST"]),
                Route("/app", app_webhook, methods=["POST"]),
            ]
        )

    @property
    def repeats(self) -> int:
        """Requests beyond the first for a message: what a provider without idempotency would deliver twice."""
        return sum(count - 1 for count in self.keys.values())

    @contextmanager
    def serving(self) -> Iterator[str]:
        with serve_in_thread(self.app) as url:
            self.url = url
            yield url


@contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """An ASGI app under uvicorn on 127.0.0.1 in a thread of this process; its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
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
