"""Webhook latency while clients page through big reads: the inbound STOP webhook's p50/p99 alone,
then with 8 readers (4 walking `/v1/OptOuts` a page of 1,000 at a time, 4 walking the console's
message search for undelivered messages), against one `gateway serve` (workers off) on SQLite.

    .venv/bin/python -m bench.reads_under_load [--rows 200000] [--seconds 10] [--connections 4]

The database is seeded directly with `--rows` opt-outs and as many messages (one in 23 undelivered,
so a search page passes over about a thousand rows), so a page takes real time.  A read done on the
event loop holds every webhook that arrives meanwhile; a read in a worker thread costs the webhooks
only its share of the CPU and the GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from datetime import timedelta

import httpx
from sqlalchemy import insert

from bench.harness import Gateway, temp_dir
from bench.inbound import SENDER, signed_stops
from bench.load import Result, hammer, post
from gateway.store.db import make_engine, utcnow
from gateway.store.tables import Message, OptOut, core_table

CHUNK = 20_000
NEXT_SEARCH_PAGE = re.compile(r'href="([^"]*before=[^"]*)"')


def seed(gateway: Gateway, rows: int) -> None:
    engine = make_engine(gateway.database)
    now = utcnow()
    for start in range(0, rows, CHUNK):
        indexes = range(start, min(start + CHUNK, rows))
        with engine.begin() as connection:
            connection.execute(
                insert(core_table(OptOut)),
                [
                    {
                        "account_sid": gateway.account_sid,
                        "service_sid": "*",
                        "number": f"+1{3000000000 + i}",
                        "channel": "sms",
                        "opted_out": True,
                        "date_updated": now,
                    }
                    for i in indexes
                ],
            )
            connection.execute(
                insert(core_table(Message)),
                [
                    {
                        "sid": f"SM{i:032x}",
                        "account_sid": gateway.account_sid,
                        "direction": "outbound-api",
                        "sender": SENDER,
                        "to": f"+1{3000000000 + i}",
                        "body": "Your appointment is on Tuesday.",
                        "status": "undelivered" if i % 23 == 0 else "delivered",
                        "priority": 1,
                        "num_segments": 1,
                        "encoding": "GSM-7",
                        "error_code": 30003 if i % 23 == 0 else None,
                        "expires_at": now + timedelta(hours=10),
                        "date_created": now - timedelta(seconds=rows - i),
                        "date_updated": now,
                        "date_sent": now,
                    }
                    for i in indexes
                ],
            )
    engine.dispose()


async def read_pages(client: httpx.AsyncClient, first: str, deadline: float, pages: list[float]) -> None:
    """Follow next pages from `first` until the deadline, starting over after the last page."""
    url: str | None = first
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        response = await client.get(url or first)
        response.raise_for_status()
        pages.append(time.perf_counter() - started)
        if "json" in response.headers["content-type"]:
            url = response.json()["meta"]["next_page_url"]
        else:
            found = NEXT_SEARCH_PAGE.search(response.text)
            url = found.group(1).replace("&amp;", "&") if found else None


async def measure(
    gateway: Gateway, bodies: list[tuple[bytes, str]], args: argparse.Namespace, readers: int
) -> tuple[Result, list[float]]:
    path = "/webhooks/twilio/inbound"
    offset = measure.sent  # type: ignore[attr-defined]

    def request(i: int) -> bytes:
        body, signature = bodies[(offset + i) % len(bodies)]
        return post(path, body, {"X-Twilio-Signature": signature})

    pages: list[float] = []
    deadline = time.perf_counter() + 1.0 + args.seconds  # hammer's warm-up, then the measured seconds
    async with httpx.AsyncClient(
        base_url=gateway.url, auth=(gateway.account_sid, gateway.auth_token), timeout=120
    ) as client:
        firsts = ["/v1/OptOuts?PageSize=1000", "/console/messages?status=undelivered"]
        result, *_ = await asyncio.gather(
            hammer("127.0.0.1", gateway.port, request, connections=args.connections, duration=args.seconds),
            *(read_pages(client, firsts[n % 2], deadline, pages) for n in range(readers)),
        )
    measure.sent += result.requests + 10_000  # type: ignore[attr-defined]
    return result, pages


measure.sent = 0  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()

    gateway = Gateway(temp_dir())
    seed(gateway, args.rows)
    bodies = signed_stops(f"{gateway.url}/webhooks/twilio/inbound", [SENDER], 60_000)
    with gateway.running(workers=False):
        service = gateway.post("/v1/Services", {"FriendlyName": "Acme", "InboundRequestUrl": "http://127.0.0.1:9/app"})
        number = gateway.register(SENDER, 10000)
        gateway.post(f"/v1/Services/{service['sid']}/PhoneNumbers", {"PhoneNumberSid": number["sid"]})
        for readers in (0, 8):
            result, pages = asyncio.run(measure(gateway, bodies, args, readers))
            print(result.line(f"inbound STOP webhook, {readers} readers"))
            if pages:
                pages.sort()
                print(f"{'':<4}{len(pages)} pages read, p50 {pages[len(pages) // 2] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
