"""A small HTTP/1.1 load generator on raw asyncio streams, shared by the benchmarks.

It keeps `connections` keep-alive connections busy for `duration` seconds and
records each request's latency.  Raw streams cost far less CPU than an HTTP
client library, so on a 2-core machine the server, not the generator, is what
gets measured; every benchmark runs its baseline through the same generator.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Result:
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100)[int(q) - 1] * 1000

    def line(self, label: str) -> str:
        return (
            f"{label:<44} {self.rate:>9,.0f} req/s   p50 {self.percentile(50):6.2f} ms   "
            f"p99 {self.percentile(99):6.2f} ms   non-2xx {sum(n for s, n in self.statuses.items() if s >= 300)}"
        )


def post(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(body)}",
    ] + [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _worker(
    host: str, port: int, make: Callable[[int], bytes], deadline: float, result: Result, counter: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            counter[0] += 1
            request = make(counter[0])
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            status = int(status_line.split()[1])
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.requests += 1
    except (ConnectionError, asyncio.IncompleteReadError, IndexError, ValueError):
        result.errors += 1
    finally:
        writer.close()


async def hammer(
    host: str,
    port: int,
    make: Callable[[int], bytes],
    *,
    connections: int = 64,
    duration: float = 5.0,
    warmup: float = 1.0,
) -> Result:
    """Run `duration` seconds of load after `warmup` seconds whose results are discarded."""
    if warmup:
        await hammer(host, port, make, connections=connections, duration=warmup, warmup=0)
    result, counter = Result(), [0]
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(*(_worker(host, port, make, deadline, result, counter) for _ in range(connections)))
    result.seconds = time.perf_counter() - started
    return result
