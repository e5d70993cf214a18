"""The short links' redirect (`GET /l/{code}`) against a bare Starlette redirect, in one sitting.

    .venv/bin/python -m bench.redirect [--seconds 5] [--rounds 3] [--links 500]

Every tap on a short link goes through it, so it must stay close to what Starlette itself costs:
the gateway reads each link once per process (then from memory), records the click without making
the answer wait (the writer batches clicks, with their click events, into one transaction), and
answers 302.  The gateway runs without workers (click events wait in the forwarding queue, written
all the same); the links are made by real sends with ShortenUrls=true, and the load asks for them in
turn with a phone browser's user agent.  Rounds alternate which side goes first, as
`bench/compare.py` does, so a machine that slows down weighs on both.
"""

from __future__ import annotations

import argparse
import asyncio
import re

from bench.harness import Gateway, baseline, temp_dir
from bench.load import Result, hammer
from bench.send import us_numbers

AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
LINK = re.compile(r"/l/([A-Za-z0-9]{10})")


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: {AGENT}\r\n\r\n".encode()


def make_links(gateway: Gateway, count: int) -> list[str]:
    """Send `count` messages with a long link each, shortened; their short links' paths."""
    service = gateway.post("/v1/Services", {"FriendlyName": "bench", "ClickCallbackUrl": "http://127.0.0.1:9/clicks"})[
        "sid"
    ]
    sid = gateway.register(us_numbers(1)[0], 10000)["sid"]
    gateway.post(f"/v1/Services/{service}/PhoneNumbers", {"PhoneNumberSid": sid})
    paths = []
    for i in range(count):
        sent = gateway.post(
            f"/2010-04-01/Accounts/{gateway.account_sid}/Messages.json",
            {
                "To": "+12015550123",
                "MessagingServiceSid": service,
                "ShortenUrls": "true",
                "Body": f"Your spring coupon: https://shop.example.com/offers/spring-sale/{i}?utm_source=sms",
            },
        )
        paths += [f"/l/{code}" for code in LINK.findall(sent["body"])]
    return paths


def measure(port: int, paths: list[str], seconds: float) -> Result:
    return asyncio.run(hammer("127.0.0.1", port, lambda i: get(paths[i % len(paths)]), duration=seconds))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--links", type=int, default=500)
    args = parser.parse_args()
    gateway = Gateway(temp_dir())
    ratios = []
    with gateway.running(workers=False), baseline() as base_port:
        paths = make_links(gateway, args.links)
        for round_ in range(1, args.rounds + 1):
            sides = [("baseline", base_port), ("gateway", gateway.port)]
            results = {}
            for name, port in sides if round_ % 2 else sides[::-1]:
                results[name] = measure(port, paths, args.seconds)
            print(results["baseline"].line(f"round {round_} baseline: bare Starlette 302"))
            print(results["gateway"].line(f"round {round_} gateway: GET /l/{{code}} (click recorded)"))
            ratios.append(results["gateway"].rate / results["baseline"].rate)
            print(f"round {round_} redirect / baseline: {ratios[-1]:.2f}")
    print(f"redirect / baseline over {args.rounds} rounds: " + ", ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
