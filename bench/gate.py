"""The opt-out gate under a large opt-out list: per-check latency with 10,000,000 opt-out rows,
against the same checks on a list of 1,000 rows, in one run.

    .venv/bin/python -m bench.gate [--rows 10000000] [--checks 20000] [--database-url URL]

Every send asks `opt_out_verdict` whether the recipient opted out of the service or of the whole
account (a hit also reads the consent event it names); it must stay well under a millisecond however
long the list grows.  The rows are generated with bulk inserts (one `executemany` per 100,000 rows;
not the CSV import path), spread over 10 accounts, 50 services each, both channels and account-wide
scopes; the checks ask for a mix of numbers that are opted out (hits) and numbers that are not
(misses), in random order.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime

from sqlalchemy import insert
from sqlmodel import Session

from bench.harness import temp_dir
from gateway.compliance.gates import Address
from gateway.compliance.optouts import opt_out_verdict
from gateway.store.db import make_engine, migrate
from gateway.store.tables import Account, OptOut

ACCOUNTS = [f"AC{i:032x}" for i in range(10)]
SERVICES = [f"MG{i:032x}" for i in range(50)]
CHUNK = 100_000


def number(i: int) -> str:
    return f"+1{201 + i % 700}{i // 700 % 10_000_000:07d}"


def fill(url: str, rows: int) -> None:
    migrate(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    table = OptOut.__table__  # type: ignore[attr-defined]
    with engine.begin() as connection:
        connection.execute(
            insert(Account.__table__),
            [
                {
                    "sid": a,
                    "auth_token": "t" * 32,
                    "friendly_name": "",  # type: ignore[attr-defined]
                    "date_created": now,
                }
                for a in ACCOUNTS
            ],
        )
    for start in range(0, rows, CHUNK):
        batch = [
            {
                "account_sid": ACCOUNTS[i % 10],
                "service_sid": "*" if i % 7 == 0 else SERVICES[i % 50],
                "number": number(i),
                "channel": "whatsapp" if i % 11 == 0 else "sms",
                "opted_out": i % 10 != 0,
                "date_updated": now,
            }
            for i in range(start, min(rows, start + CHUNK))
        ]
        with engine.begin() as connection:
            connection.execute(insert(table), batch)
    engine.dispose()


def check_latencies(url: str, rows: int, checks: int) -> list[float]:
    """Seconds per `opt_out_verdict`, half of them for numbers on the list."""
    engine = make_engine(url)
    rng = random.Random(7)
    asks = []
    for k in range(checks):
        i = rng.randrange(rows) if k % 2 == 0 else rows + rng.randrange(10 * rows)
        asks.append((ACCOUNTS[i % 10], SERVICES[i % 50], Address(number(i), number(i), "sms", "US", None)))
    latencies = []
    with Session(engine) as session:
        for account, scope, recipient in asks:
            started = time.perf_counter()
            opt_out_verdict(session, account, scope, recipient)
            latencies.append(time.perf_counter() - started)
    engine.dispose()
    return latencies


def summary(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite files in a temp dir)")
    parser.add_argument("--runs", type=int, default=3, help="measurements of both lists, one after the other")
    args = parser.parse_args()
    directory = temp_dir()
    small_url = f"sqlite:///{directory / 'small.db'}"
    large_url = args.database_url or f"sqlite:///{directory / 'large.db'}"
    fill(small_url, 1_000)
    started = time.monotonic()
    fill(large_url, args.rows)
    print(f"generated {args.rows:,} opt-out rows in {time.monotonic() - started:.0f} s")
    for run in range(1, args.runs + 1):
        base_p50, base_p99 = summary(check_latencies(small_url, 1_000, args.checks))
        p50, p99 = summary(check_latencies(large_url, args.rows, args.checks))
        print(
            f"run {run}: baseline, 1,000 opt-out rows: p50 {base_p50:.3f} ms, p99 {base_p99:.3f} ms; "
            f"{args.rows:,} rows: p50 {p50:.3f} ms, p99 {p99:.3f} ms (aim p99 < 1 ms); "
            f"p99 ratio {p99 / base_p99:.2f}"
        )


if __name__ == "__main__":
    main()
