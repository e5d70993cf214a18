"""Scale-out benchmark: the send API and the inbound STOP webhook in four deployments, one run.

    .venv/bin/python -m bench.scaleout [--seconds 5] [--connections 64]

(a) one `gateway serve` process on SQLite;
(a2) `gateway serve --workers 2` on SQLite: two processes on one file, each serving and dispatching;
(b) one `gateway serve` process on PostgreSQL;
(c) `gateway serve --workers 2` (API only) and two `gateway worker` processes on PostgreSQL.

Workers run in every deployment (in-process in a, a2 and b), sending to a loopback stand-in
provider (also the stand-in app taking forwards), so the API competes with dispatch as it does
in production.  Each request is a
different person: sends go through a Messaging Service with 20 senders; every inbound request is
a new person texting STOP (opt-out, confirmation queued, forward queued).  PostgreSQL is a
throwaway server from Debian's binaries (fsync off, like SQLite's WAL with synchronous=NORMAL it
does not flush on every commit).  The load generator, the gateway, the stand-in and PostgreSQL
share this machine's cores; figures are ratios to (a) from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack

from bench.harness import Gateway, Node, StandInProvider, temp_dir
from bench.inbound import signed_stops
from bench.load import Result, hammer, post
from bench.send import auth_header, send_body, us_numbers
from tests.postgres import binaries, new_database, postgres_server


def measure(
    label: str, gateway: Gateway, nodes: list[Node], seconds: float, connections: int, app_url: str
) -> tuple[Result, Result]:
    with ExitStack() as running:
        for node in nodes:
            running.enter_context(node)
        service = gateway.post("/v1/Services", {"FriendlyName": "bench", "InboundRequestUrl": app_url})["sid"]
        senders = us_numbers(20)
        for number in senders:
            sid = gateway.register(number, 10000)["sid"]
            gateway.post(f"/v1/Services/{service}/PhoneNumbers", {"PhoneNumberSid": sid})
        path, headers = f"/2010-04-01/Accounts/{gateway.account_sid}/Messages.json", auth_header(gateway)
        sends = asyncio.run(
            hammer(
                "127.0.0.1",
                gateway.port,
                lambda i: post(path, send_body(service, i), headers),
                connections=connections,
                duration=seconds,
            )
        )
        print(sends.line(f"{label}: send API"), flush=True)
        bodies = signed_stops(f"{gateway.url}/webhooks/twilio/inbound", senders, 30_000)

        def inbound(i: int) -> bytes:
            body, signature = bodies[i % len(bodies)]
            return post("/webhooks/twilio/inbound", body, {"X-Twilio-Signature": signature})

        stops = asyncio.run(hammer("127.0.0.1", gateway.port, inbound, connections=connections, duration=seconds))
        print(stops.line(f"{label}: inbound STOP"), flush=True)
    return sends, stops


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if binaries() is None:
        sys.exit("PostgreSQL server binaries not found: apt-get install postgresql")
    provider = StandInProvider()
    results: dict[str, tuple[Result, Result]] = {}
    with provider.serving() as provider_url, postgres_server() as server:
        sqlite = Gateway(temp_dir(), provider_url)
        results["a"] = measure(
            "(a) 1 process, SQLite", sqlite, [sqlite.node()], args.seconds, args.connections, f"{provider_url}/app"
        )
        one_file = Gateway(temp_dir(), provider_url)
        results["a2"] = measure(
            "(a2) 2 processes, SQLite",
            one_file,
            [one_file.node(processes=2)],
            args.seconds,
            args.connections,
            f"{provider_url}/app",
        )
        single = Gateway(temp_dir(), provider_url, new_database(server))
        results["b"] = measure(
            "(b) 1 process, PostgreSQL", single, [single.node()], args.seconds, args.connections, f"{provider_url}/app"
        )
        shared = Gateway(temp_dir(), provider_url, new_database(server))
        nodes = [shared.node(workers=False, processes=2), shared.worker(), shared.worker()]
        results["c"] = measure(
            "(c) 2 API + 2 workers, PostgreSQL", shared, nodes, args.seconds, args.connections, f"{provider_url}/app"
        )
    base_sends, base_stops = results["a"]
    print(f"\n{'deployment':<6} {'send API':>10} {'x (a)':>7} {'inbound':>10} {'x (a)':>7}")
    for name, (sends, stops) in results.items():
        print(
            f"{f'({name})':<6} {sends.rate:>10,.0f} {sends.rate / base_sends.rate:>7.2f} "
            f"{stops.rate:>10,.0f} {stops.rate / base_stops.rate:>7.2f}"
        )
    print("aim: (a2) and (c) >= 1.6 x (a)")


if __name__ == "__main__":
    main()
