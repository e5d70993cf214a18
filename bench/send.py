"""Outbound benchmark: send API, dispatch throughput, and pacing precision, in one run.

    .venv/bin/python bench/send.py [--seconds 5] [--senders 1000] [--per-sender 20] [--processes 1]

1. A bare Starlette POST handler that reads a Twilio-sized form (the baseline).
2. The send API (`POST Messages.json` through a Messaging Service: auth, gate, routing with
   sticky sender, segments, durable enqueue), workers off so only the API is measured.
3. Dispatch: `--senders` senders with `--per-sender` queued messages each, drained to a
   loopback stand-in provider; messages per second from the first to the last arrival.
4. Pacing: senders at 1, 5, 20 and 50 MPS, each backlogged for about 8 seconds; the worst
   one-second count of any sender at the provider relative to its MPS, and the share of
   its MPS each achieved while backlogged.

Everything runs on this machine: the load generator, the gateway (one process, or for the send
API `--processes N` of `gateway serve --workers N`) and the stand-in share its cores, so read the
ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import time
from urllib.parse import urlencode

import phonenumbers

from bench.harness import Gateway, StandInProvider, baseline, temp_dir
from bench.load import hammer, post

RECIPIENTS = [f"+1{area}555{n:04d}" for area in (201, 212, 310, 415, 646) for n in range(100, 200)]


def us_numbers(count: int) -> list[str]:
    numbers = []
    for n in itertools.count():
        candidate = f"+1201{200 + n // 10000:03d}{n % 10000:04d}"
        if phonenumbers.is_valid_number(phonenumbers.parse(candidate)):
            numbers.append(candidate)
        if len(numbers) == count:
            return numbers
    raise AssertionError


def send_body(service_sid: str, index: int) -> bytes:
    return urlencode(
        {
            "To": RECIPIENTS[index % len(RECIPIENTS)],
            "MessagingServiceSid": service_sid,
            "Body": "Your appointment is confirmed for Tuesday at 9:00. Reply STOP to opt out.",
        }
    ).encode()


def auth_header(gateway: Gateway) -> dict[str, str]:
    credentials = f"{gateway.account_sid}:{gateway.auth_token}".encode()
    return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}


def measure_api(seconds: float, processes: int = 1) -> tuple[float, float]:
    with baseline() as port:
        body = send_body("MG" + "0" * 32, 0)
        base = asyncio.run(hammer("127.0.0.1", port, lambda i: post("/x", body), duration=seconds))
    print(base.line("baseline: bare Starlette form POST"))
    gateway = Gateway(temp_dir())
    with gateway.running(workers=False, processes=processes):
        service = gateway.post("/v1/Services", {"FriendlyName": "bench"})["sid"]
        for number in us_numbers(10):
            sid = gateway.register(number, 10000)["sid"]
            gateway.post(f"/v1/Services/{service}/PhoneNumbers", {"PhoneNumberSid": sid})
        path, headers = f"/2010-04-01/Accounts/{gateway.account_sid}/Messages.json", auth_header(gateway)
        api = asyncio.run(
            hammer("127.0.0.1", gateway.port, lambda i: post(path, send_body(service, i), headers), duration=seconds)
        )
    print(api.line("send API: POST Messages.json via a service"))
    print(f"send API / baseline: {api.rate / base.rate:.2f}   (aim >= 0.4)")
    return base.rate, api.rate


def enqueue(gateway: Gateway, senders: list[str], per_sender: int) -> None:
    path, headers = f"/2010-04-01/Accounts/{gateway.account_sid}/Messages.json", auth_header(gateway)
    bodies = [
        urlencode({"To": RECIPIENTS[i % len(RECIPIENTS)], "From": sender, "Body": f"n{i}"}).encode()
        for i in range(per_sender)
        for sender in senders
    ]

    async def run() -> None:
        queue = iter(bodies)

        async def one_connection() -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
            for body in queue:
                writer.write(post(path, body, headers))
                status = (await reader.readline()).split()[1]
                length = 0
                while (line := await reader.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                assert status == b"201", status
            writer.close()

        await asyncio.gather(*(one_connection() for _ in range(32)))

    asyncio.run(run())


def measure_dispatch(senders_count: int, per_sender: int) -> None:
    stand_in = StandInProvider()
    with stand_in.serving() as provider_url:
        gateway = Gateway(temp_dir(), provider_url)
        senders = us_numbers(senders_count)
        with gateway.running(workers=False):
            for number in senders:
                gateway.register(number, 100)
            enqueue(gateway, senders, per_sender)
        total = senders_count * per_sender
        with gateway.running(workers=True):
            deadline = time.monotonic() + 300
            while stand_in.count < total and time.monotonic() < deadline:
                time.sleep(0.05)
            arrivals = sorted(t for times in stand_in.arrivals.values() for t in times)
            rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
            print(
                f"dispatch: {len(arrivals):,} requests for {total:,} messages from {senders_count:,} senders at "
                f"100 MPS: {rate:,.0f} msg/s   (aim >= 2,000); repeated requests at the provider: "
                f"{stand_in.repeats} (aim 0)"
            )
            pacing(gateway, stand_in)


def pacing(gateway: Gateway, stand_in: StandInProvider) -> None:
    rates = {number: mps for number, mps in zip(us_numbers(1004)[1000:], (1, 5, 20, 50), strict=True)}
    for number, mps in rates.items():
        gateway.register(number, mps)
    stand_in.arrivals.clear()
    for number, mps in rates.items():
        enqueue(gateway, [number], 8 * mps + 1)
    deadline = time.monotonic() + 60
    while any(len(stand_in.arrivals[n]) < 8 * m + 1 for n, m in rates.items()) and time.monotonic() < deadline:
        time.sleep(0.1)
    worst_ratio, shares = 0.0, []
    for number, mps in rates.items():
        times = sorted(stand_in.arrivals[number])
        worst = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
        worst_ratio = max(worst_ratio, worst / mps)
        share = (len(times) - 1) / (times[-1] - times[0]) / mps
        shares.append(share)
        print(
            f"  sender at {mps:>3} MPS: {len(times)} messages, worst one-second window {worst} "
            f"({worst / mps:.2f} of MPS), achieved {share:.3f} of MPS while backlogged"
        )
    print(
        f"pacing: worst window / MPS {worst_ratio:.2f} (must be <= 1.0); "
        f"lowest achieved share {min(shares):.3f} (aim >= 0.98)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--senders", type=int, default=1000)
    parser.add_argument("--per-sender", type=int, default=20)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    measure_api(args.seconds, args.processes)
    measure_dispatch(args.senders, args.per_sender)


if __name__ == "__main__":
    main()
