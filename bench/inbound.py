"""Inbound benchmark: a bare Starlette form POST against the inbound STOP webhook, end to end.

    .venv/bin/python bench/inbound.py [--seconds 5] [--connections 64] [--processes 1]

The webhook path per request: Twilio signature check on the public URL, form parse, keyword
match, idempotency receipt, inbound message row, consent event and opt-out state, the
confirmation gated, routed and queued through the dispatch core, and the app's forward in the
outbox, all committed before the answer.  Every request is a new person texting STOP, signed
in advance so the generator spends its time sending.  Workers are off: this measures the
webhook, not the sends it causes.  `--processes N` serves with `gateway serve --workers N`
(SQLite: N processes on one file).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from urllib.parse import urlencode

from bench.harness import Gateway, baseline, temp_dir
from bench.load import hammer, post
from gateway.providers.twilio import compute_signature

SENDER = "+12015550124"
TOKEN = "bench-token"  # the Twilio auth token the harness gives the gateway


def people(count: int) -> list[str]:
    return [f"+1{area}555{n:04d}" for area in range(201, 990) for n in range(100, 200)][:count]


def signed_stops(url: str, senders: list[str], count: int) -> list[tuple[bytes, str]]:
    """(form body, X-Twilio-Signature) of `count` people texting STOP to `senders` in turn, signed
    in advance so the load generator spends its time sending."""
    bodies = []
    for index, person in enumerate(people(count)):
        params = [
            ("MessageSid", "SM" + uuid.uuid4().hex),
            ("AccountSid", "AC" + "1" * 32),
            ("From", person),
            ("To", senders[index % len(senders)]),
            ("Body", "STOP"),
            ("NumMedia", "0"),
            ("SmsStatus", "received"),
            ("ApiVersion", "2010-04-01"),
        ]
        bodies.append((urlencode(params).encode(), compute_signature(url, params, TOKEN)))
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()

    gateway = Gateway(temp_dir())
    bodies = signed_stops(f"{gateway.url}/webhooks/twilio/inbound", [SENDER], 60_000)
    with baseline() as port:
        base = asyncio.run(
            hammer(
                "127.0.0.1",
                port,
                lambda i: post("/x", bodies[i % len(bodies)][0]),
                connections=args.connections,
                duration=args.seconds,
            )
        )
    print(base.line("baseline: bare Starlette form POST"))
    with gateway.running(workers=False, processes=args.processes):
        service = gateway.post("/v1/Services", {"FriendlyName": "Acme", "InboundRequestUrl": "http://127.0.0.1:9/app"})
        number = gateway.register(SENDER, 10000)
        gateway.post(f"/v1/Services/{service['sid']}/PhoneNumbers", {"PhoneNumberSid": number["sid"]})

        def request(i: int) -> bytes:
            body, signature = bodies[i % len(bodies)]
            return post("/webhooks/twilio/inbound", body, {"X-Twilio-Signature": signature})

        result = asyncio.run(
            hammer("127.0.0.1", gateway.port, request, connections=args.connections, duration=args.seconds, warmup=0)
        )
    print(result.line("inbound STOP webhook, end to end"), dict(result.statuses))
    print(
        f"inbound / baseline: {result.rate / base.rate:.2f}   "
        "(aim >= 0.35, stretch 0.5; p99 aim <= 25 ms at 64 connections)"
    )


if __name__ == "__main__":
    main()
