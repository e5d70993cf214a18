"""How long a refused sign-in takes: an AccountSid that does not exist against one that does with a
wrong token.  Equal means say the time of a 401 does not tell whether an account exists.

    .venv/bin/python -m bench.login [--requests 200] [--rounds 5]

`gateway serve` (workers off) on a fresh SQLite database with one account; one keep-alive client
on 127.0.0.1 sends wrong tokens, alternating the two kinds in rounds so both see the same machine.
The failure budgets are raised out of the way (the benchmark measures the check, not the 429).
The figure is the client's wall time per request, mean and median, in microseconds.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench.harness import Gateway

UNKNOWN_SID = "AC" + "d" * 32
WRONG_TOKEN = "0" * 32
OUT_OF_THE_WAY = {"GATEWAY_AUTH_FAILURE_BURST": "1000000", "GATEWAY_AUTH_FAILURE_ACCOUNT_BURST": "1000000"}


def timed(client: httpx.Client, sid: str, requests: int) -> list[float]:
    took = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get("/v1/Services", auth=(sid, WRONG_TOKEN))
        took.append((time.perf_counter() - start) * 1e6)
        assert response.status_code == 401, response.text
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200, help="requests of each kind per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        gateway = Gateway(Path(directory), env={"GATEWAY_WORKERS": "0", **OUT_OF_THE_WAY})
        with gateway.running(workers=False), httpx.Client(base_url=gateway.url) as client:
            timed(client, gateway.account_sid, 50)  # warm: connection, caches, first queries
            timed(client, UNKNOWN_SID, 50)
            unknown: list[float] = []
            known: list[float] = []
            for _ in range(args.rounds):
                unknown += timed(client, UNKNOWN_SID, args.requests)
                known += timed(client, gateway.account_sid, args.requests)
    print(f"{args.rounds} rounds of {args.requests} refused sign-ins of each kind, µs per request")
    for label, took in (("unknown AccountSid", unknown), ("known AccountSid, wrong token", known)):
        print(f"{label:<32} mean {statistics.fmean(took):8.0f}  median {statistics.median(took):8.0f}")
    print(f"ratio of means unknown / known: {statistics.fmean(unknown) / statistics.fmean(known):.2f}")


if __name__ == "__main__":
    main()
