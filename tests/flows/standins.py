"""Local stand-ins on 127.0.0.1: an app server that records what it receives."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.providers.base import parse_form
from tests.flows.server import serve
from tests.poll import wait_until


@dataclass
class Received:
    path: str
    url: str
    headers: dict[str, str]
    form: list[tuple[str, str]]
    at: float
    raw: bytes = b""

    def field(self, name: str) -> str | None:
        return next((v for k, v in self.form if k == name), None)


@dataclass
class AppServer:
    """An app's webhook endpoints: records every request; answers `status` (503 while 'down')."""

    base: str = ""
    received: list[Received] = field(default_factory=list)
    status: int = 200
    failing_paths: set[str] = field(default_factory=set)  # always answer 503 there

    def url(self, path: str = "/hook") -> str:
        return f"{self.base}{path}"

    def wait_for(self, predicate: Callable[[Received], object], timeout: float = 10.0) -> list[Received]:
        """Every request matching `predicate`, once at least one has arrived."""
        return wait_until(
            lambda: [r for r in self.received if predicate(r)],
            timeout,
            message=lambda: f"nothing matching arrived; got {[(r.path, r.form) for r in self.received]}",
        )


@contextmanager
def app_server() -> Iterator[AppServer]:
    server = AppServer()

    async def record(request: Request) -> Response:
        body = await request.body()
        server.received.append(
            Received(
                request.url.path,
                str(request.url),
                dict(request.headers),
                list(parse_form(body)),
                time.monotonic(),
                body,
            )
        )
        return Response(status_code=503 if request.url.path in server.failing_paths else server.status)

    app = Starlette(routes=[Route("/{path:path}", record, methods=["GET", "POST"])])
    with serve(app) as base:
        server.base = base
        yield server
