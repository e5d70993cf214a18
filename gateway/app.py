"""The Starlette application: routes, error rendering and the lifespan.

Nothing happens at import: `create_app(settings)` builds everything, so tests
build as many isolated apps as they like.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.api import health
from gateway.api import policy as policy_api
from gateway.errors import HTTP_CODES, GatewayError, more_info
from gateway.policy.watcher import PolicyState
from gateway.settings import Settings
from gateway.store.db import make_engine, record_revision

log = logging.getLogger("gateway")


def create_app(settings: Settings) -> Starlette:
    engine = make_engine(settings.database_url)
    policy = PolicyState(settings.policies_dir, settings.locales_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        policy.reload()
        _remember_revision(app)
        watcher = asyncio.create_task(_watch(app, settings.policy_reload_interval))
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            engine.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", health.healthz, methods=["GET"]),
            Route("/readyz", health.readyz, methods=["GET"]),
            Route("/openapi.yaml", health.openapi, methods=["GET"]),
            Route("/v1/Policy", policy_api.show, methods=["GET"]),
            Route("/v1/Policy/Test", policy_api.test, methods=["POST"]),
        ],
        exception_handlers={GatewayError: _gateway_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.policy = policy
    app.state.recorded_revision = None
    return app


async def _watch(app: Starlette, interval: float) -> None:
    state: PolicyState = app.state.policy
    while True:
        await asyncio.sleep(interval)
        if await asyncio.to_thread(state.changed):
            await asyncio.to_thread(state.reload)
        await asyncio.to_thread(_remember_revision, app)


def _remember_revision(app: Starlette) -> None:
    """Store the serving revision's files once; if the database is down, the watcher tries again."""
    matcher = app.state.policy.matcher
    if matcher is None or app.state.recorded_revision == matcher.revision:
        return
    try:
        record_revision(app.state.engine, matcher.revision, matcher.policy.files)
    except SQLAlchemyError as exc:
        log.warning("policy revision %s not recorded yet: %s", matcher.revision, type(exc).__name__)
        return
    app.state.recorded_revision = matcher.revision


async def _gateway_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, 20500 if exc.status_code >= 500 else 21100)
    body = {"code": code, "message": exc.detail, "more_info": more_info(code), "status": exc.status_code}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
