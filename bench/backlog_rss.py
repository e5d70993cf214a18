"""Peak memory of a gateway process draining a 100,000-message backlog to a provider that hangs,
against the same process with an empty queue, in one run.

    .venv/bin/python -m bench.backlog_rss [--messages 100000] [--senders 100] [--seconds 20]

For each run (baseline: no messages; backlog: `--messages`) a fresh SQLite database gets an
account and `--senders` numbers at 10 MPS.  The backlog is queued in this process through the
send path itself (`Core.send` → the writer's `send_batch`: gate, routing, durable insert), a
thousand sends in flight at a time, not over HTTP.  Then `gateway serve` starts with its workers
on, pointed at a stand-in provider that takes each request and answers only after a minute
(GATEWAY_HTTP_TIMEOUT cuts it off first, so messages are retried and stay queued), and runs for
`--seconds`.  Its peak resident set (VmHWM in /proc, the kernel's high-water mark) is read just
before it stops.  A ratio near 1 says memory does not grow with the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bench.harness import ROOT, Gateway, serve_in_thread, temp_dir
from bench.send import RECIPIENTS, us_numbers
from gateway.api.common import Form
from gateway.api.messages import send_request
from gateway.app import create_app
from gateway.dates import utcnow
from gateway.settings import Settings

IN_FLIGHT = 1000
PROVIDER_DELAY = 60.0


def hanging_provider() -> Starlette:
    """Twilio's Messages endpoint that holds every request for a minute: the provider is down in all
    but name, and each send in flight costs the gateway a connection and a task until it gives up."""

    async def create(request: Request) -> JSONResponse:
        await request.body()
        await asyncio.sleep(PROVIDER_DELAY)
        return JSONResponse({"sid": "SM" + "0" * 32, "status": "queued"}, status_code=201)

    return Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", create, methods=["POST"])])


def peak_rss_kib(pid: int) -> int:
    """VmHWM: the most resident memory the process has used since it started, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc: this benchmark needs Linux")


def queue(gateway: Gateway, senders: list[str], count: int) -> float:
    """Queue `count` sends through the gateway's own send path, in this process; seconds taken."""
    settings = Settings(
        database_url=gateway.database,
        policies_dir=ROOT / "policies",
        locales_dir=ROOT / "locales",
        workers=False,
        secret_key=gateway.env["GATEWAY_SECRET_KEY"],
    )
    app = create_app(settings)
    started = time.perf_counter()
    with TestClient(app):  # the lifespan: policy loaded, writer running
        core = app.state.core

        async def send(index: int) -> None:
            form = Form(
                [
                    ("From", senders[index % len(senders)]),
                    ("To", RECIPIENTS[index % len(RECIPIENTS)]),
                    ("Body", f"Your appointment is confirmed for Tuesday at 9:00 (#{index})."),
                ]
            )
            await core.send(send_request(gateway.account_sid, form, settings, utcnow()))

        async def all_of_them() -> None:
            for start in range(0, count, IN_FLIGHT):
                await asyncio.gather(*(send(i) for i in range(start, min(count, start + IN_FLIGHT))))

        asyncio.run(all_of_them())
    return time.perf_counter() - started


@contextmanager
def deployment(provider_url: str, senders: list[str]) -> Iterator[Gateway]:
    gateway = Gateway(temp_dir(), provider_url)
    with gateway.running(workers=False):
        for number in senders:
            gateway.register(number, 10)
    yield gateway


def run(provider_url: str, senders: list[str], messages: int, seconds: float) -> int:
    with deployment(provider_url, senders) as gateway:
        if messages:
            took = queue(gateway, senders, messages)
            print(
                f"  queued {messages:,} messages through the send path in {took:.1f} s ({messages / took:,.0f}/s)",
                flush=True,
            )
        with gateway.node(workers=True) as node:
            assert node.proc is not None
            time.sleep(seconds)
            return peak_rss_kib(node.proc.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    senders = us_numbers(args.senders)
    with serve_in_thread(hanging_provider()) as provider_url:
        empty = run(provider_url, senders, 0, args.seconds)
        print(f"baseline, empty queue: peak RSS {empty / 1024:.1f} MiB", flush=True)
        full = run(provider_url, senders, args.messages, args.seconds)
        print(f"{args.messages:,} queued: peak RSS {full / 1024:.1f} MiB")
    print(f"backlog / baseline: {full / empty:.2f}")


if __name__ == "__main__":
    main()
