"""The Starlette application: routes, error rendering and the lifespan.

Nothing happens at import: `create_app(settings)` builds everything, so tests
build as many isolated apps as they like.  The lifespan starts, in order, the
writer (group commit), the policy watcher, the simulator (when mounted) and
the dispatch and forwarding workers (`gateway.runtime`), and stops them in
reverse; the timers joining long inbound messages (`providers.reassembly`) are
cancelled at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import runtime
from gateway.accounts import Accounts, SignIns
from gateway.api import (
    dead_letters,
    health,
    links,
    media,
    messages,
    notifications,
    numbers,
    optouts,
    pool,
    services,
    webhooks,
)
from gateway.api import policy as policy_api
from gateway.api.links import Targets
from gateway.api.metrics import metrics
from gateway.budgets import ApiRateLimit
from gateway.console import routes as console_routes
from gateway.dates import CLOCK
from gateway.errors import HTTP_CODES, DatabaseUnavailable, GatewayError, InternalError, more_info
from gateway.forwarding.destinations import destinations
from gateway.ids import new_token
from gateway.links import link_defaults
from gateway.observability import logs
from gateway.observability.http import Observed
from gateway.orchestration.clicks import Clicks
from gateway.orchestration.core import Core
from gateway.outbox.backlog import Backlog, StickyLoad
from gateway.policy.watcher import PolicyState
from gateway.providers import configured
from gateway.providers.health import ProviderHealth
from gateway.providers.outages import SharedHealth
from gateway.providers.simulator import SimulatorConfig, create_simulator
from gateway.ratelimit import Shares
from gateway.settings import Settings, load_settings
from gateway.store.db import UNAVAILABLE, make_engine, record_revision
from gateway.store.writer import Writer
from gateway.tokens import token_cipher

log = logging.getLogger("gateway")

ACCOUNT = "/2010-04-01/Accounts/{account_sid}"
SERVICE = "/v1/Services/{sid}"


def routes() -> list[Route | Mount]:
    pool_routes: list[Route | Mount] = []
    for name in ("PhoneNumbers", "ShortCodes", "AlphaSenders"):
        pool_routes += [
            Route(f"{SERVICE}/{name}", services.add_member, methods=["POST"]),
            Route(f"{SERVICE}/{name}", services.list_members, methods=["GET"]),
            Route(f"{SERVICE}/{name}/{{member}}", services.fetch_member, methods=["GET"]),
            Route(f"{SERVICE}/{name}/{{member}}", services.remove_member, methods=["DELETE"]),
        ]
    pool_routes.append(Route(f"{SERVICE}/AlphaSenders/{{member}}", services.update_alpha, methods=["POST"]))
    return [
        # The busiest routes first: Starlette tries routes in order, about 0.3 µs each, and the
        # webhooks were 42 routes down.
        Route("/webhooks/{provider}/inbound", webhooks.inbound, methods=["GET", "POST"]),
        Route("/webhooks/{provider}/status", webhooks.status, methods=["GET", "POST"]),
        Route(f"{ACCOUNT}/Messages.json", messages.create, methods=["POST"]),
        Route("/healthz", health.healthz, methods=["GET"]),
        Route("/readyz", health.readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.yaml", health.openapi, methods=["GET"]),
        Route("/v1/Policy", policy_api.show, methods=["GET"]),
        Route("/v1/Policy/Test", policy_api.test, methods=["POST"]),
        Route(f"{ACCOUNT}/Messages.json", messages.listing, methods=["GET"]),
        Route(f"{ACCOUNT}/Messages/{{sid}}.json", messages.fetch, methods=["GET"]),
        Route(f"{ACCOUNT}/Messages/{{sid}}.json", messages.update, methods=["POST"]),
        Route(f"{ACCOUNT}/Messages/{{sid}}/Media.json", media.listing, methods=["GET"]),
        Route(f"{ACCOUNT}/Messages/{{sid}}/Media/{{media}}.json", media.fetch, methods=["GET"]),
        Route("/v1/Messages/Explain", messages.explain_send, methods=["POST"]),
        Route("/v1/Messages/{sid}/Explain", messages.fetch_reasons, methods=["GET"]),
        Route(f"{ACCOUNT}/IncomingPhoneNumbers.json", numbers.create, methods=["POST"]),
        Route(f"{ACCOUNT}/IncomingPhoneNumbers.json", numbers.listing, methods=["GET"]),
        Route(f"{ACCOUNT}/IncomingPhoneNumbers/{{sid}}.json", numbers.fetch, methods=["GET"]),
        Route(f"{ACCOUNT}/IncomingPhoneNumbers/{{sid}}.json", numbers.remove, methods=["DELETE"]),
        Route("/v1/Services", services.create, methods=["POST"]),
        Route("/v1/Services", services.listing, methods=["GET"]),
        Route(SERVICE, services.fetch, methods=["GET"]),
        Route(SERVICE, services.update_service, methods=["POST"]),
        Route(SERVICE, services.remove, methods=["DELETE"]),
        *pool_routes,
        Route(f"{SERVICE}/GeoPermissions", pool.geo_fetch, methods=["GET"]),
        Route(f"{SERVICE}/GeoPermissions", pool.geo_update, methods=["POST"]),
        Route(f"{SERVICE}/StickySenders", pool.sticky_list, methods=["GET"]),
        Route(f"{SERVICE}/StickySenders/{{to}}", pool.sticky_fetch, methods=["GET"]),
        Route(f"{SERVICE}/StickySenders/{{to}}", pool.sticky_pin, methods=["POST"]),
        Route(f"{SERVICE}/StickySenders/{{to}}", pool.sticky_reset, methods=["DELETE"]),
        Route(f"{SERVICE}/Notifications", notifications.create, methods=["POST"]),
        *optouts.ROUTES,
        Route("/v1/DeadLetters", dead_letters.listing, methods=["GET"]),
        Route("/v1/DeadLetters/Replay", dead_letters.replay_all, methods=["POST"]),
        Route("/v1/DeadLetters/{id}/Replay", dead_letters.replay_one, methods=["POST"]),
        Route("/l/{code}", links.redirect, methods=["GET", "HEAD"]),
        *console_routes(),  # /console: the compliance console (HTML; gateway/console)
    ]


def create_app(settings: Settings) -> Starlette:
    if settings.simulator and not settings.simulator_token:
        settings = settings.with_(simulator_token=secrets.token_urlsafe(18))
    engine = make_engine(settings.database_url)
    policy = PolicyState(settings.policies_dir, settings.locales_dir)
    writer = Writer(engine)
    core = Core(
        writer,
        Backlog(),
        StickyLoad(),
        policy,
        health=SharedHealth(
            ProviderHealth(settings.provider_failure_window, settings.provider_probe_interval), writer, engine
        ),
        scheduled_limit=settings.scheduled_limit,
        links=link_defaults(
            settings.link_domain, settings.public_url or settings.local_url, settings.link_lifetime_days
        ),
    )
    clicks = Clicks(writer, core.doorbell)
    if not settings.alone:  # other processes may change services and pools
        writer.before_batch = core.sync
    accounts = Accounts(engine, token_cipher(settings))
    simulator = (
        create_simulator(
            SimulatorConfig(
                auth_token=settings.simulator_token or "",
                delay=settings.simulator_delay,
                failures=settings.failures(),
                timeout=runtime.http_timeout(settings),
            )
        )
        if settings.simulator
        else None
    )
    arrivals = runtime.receiving(settings, writer, core)
    reassembly = arrivals.reassembly

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        _warn_about_webhooks(settings)
        policy.reload()
        _remember_revision(app)
        writer.start()
        reassembly.start()
        with Session(engine) as session:
            try:
                core.backlog.load(session)
            except SQLAlchemyError as exc:
                log.error("could not read the queue at start: %s", exc)
        tasks = [
            asyncio.create_task(
                runtime.watch_policy(policy, settings.policy_reload_interval, lambda: _remember_revision(app))
            )
        ]
        if core.health is not None:  # other processes mark and heal providers too
            tasks.append(asyncio.create_task(core.health.watch()))
        if not settings.alone or not settings.workers:  # other processes change the queue too
            tasks.append(asyncio.create_task(runtime.recount(writer, core)))
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(runtime.http_client(settings))
            # the media check's HEAD requests go where app webhooks may go (gateway.api.media)
            app.state.media_client = await stack.enter_async_context(
                runtime.http_client(settings, destinations(settings))
            )
            if simulator is not None:
                await stack.enter_async_context(simulator.state.sim.running())
            if settings.workers:
                app.state.workers = await stack.enter_async_context(
                    runtime.workers(settings, engine, writer, core, accounts, client, arrivals)
                )
                app.state.forwarder = app.state.workers.forwarder
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await reassembly.stop()
                await clicks.stop()
        writer.stop()
        engine.dispose()

    app = Starlette(
        routes=[*routes(), *([Mount("/sim", simulator)] if simulator is not None else [])],
        middleware=[Middleware(Observed), Middleware(_UnexpectedErrors)],
        exception_handlers={
            GatewayError: _gateway_error,
            HTTPException: _http_error,
            **dict.fromkeys(UNAVAILABLE, _database_unavailable),
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = CLOCK  # the process's time source (gateway.dates): tests set and advance it
    app.state.engine = engine
    app.state.policy = policy
    app.state.writer = writer
    app.state.core = core
    app.state.clicks = clicks
    app.state.link_targets = Targets()
    app.state.accounts = accounts
    app.state.rate_limiter = ApiRateLimit(
        Shares(settings.api_rate_limit, settings.api_rate_burst), writer, settings.api_processes
    )
    app.state.sign_ins = SignIns(
        accounts, settings.auth_failure_burst, settings.auth_failure_account_burst, settings.auth_failure_rate
    )
    app.state.workers = app.state.forwarder = None
    app.state.recorded_revision = None
    app.state.provider_secrets = settings.webhook_secrets()
    app.state.providers = configured(settings)
    app.state.arrivals = arrivals
    app.state.reassembly = reassembly
    return app


def _warn_about_webhooks(settings: Settings) -> None:
    """Say at start what the trust boundary is: providers whose webhooks are refused, and a simulator
    that anyone who can reach the gateway could use to post signed messages."""
    unused = settings.missing_credentials()  # providers that cannot send have no numbers to receive on,
    for name, variable in settings.missing_secrets().items():  # but the default is what numbers get
        if name in unused and name != settings.provider_default:
            continue
        log.warning("webhooks of provider %s are refused: no secret configured (set %s)", name, variable)
    if settings.simulator and not settings.loopback_only:
        log.warning("!" * 78)
        log.warning(
            "THE PROVIDER SIMULATOR IS ON WHILE LISTENING ON %s: anyone who can reach this gateway and "
            "learns the simulator token can post inbound messages for its simulated numbers. "
            "The simulator is for demos and tests: set GATEWAY_SIMULATOR=false.",
            settings.host,
        )
        log.warning("!" * 78)


def from_environment() -> Starlette:
    """The app as `uvicorn --factory` builds it in each process of `gateway serve --workers N`
    (a fresh interpreter: its logging is set up here, as `serve` set up its own), sharing the
    database with the other processes, on SQLite too."""
    settings = load_settings()
    logs.configure(settings.log_format)
    return create_app(settings.with_(shared=True))


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
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database refused a connection, a lock or a write (down, restarting, locked past the busy
    timeout, pool exhausted): 503 with Retry-After, so the caller tries again rather than believing
    a request was stored that was not."""
    log.warning(
        "database unavailable, answering 503 to %s %s: %s", request.method, request.url.path, type(exc).__name__
    )
    return await _gateway_error(request, DatabaseUnavailable("The database is unavailable; try again later."))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, 20500 if exc.status_code >= 500 else 21100)
    body = {"code": code, "message": exc.detail, "more_info": more_info(code), "status": exc.status_code}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


class _UnexpectedErrors:
    """Answer an exception no handler took with Twilio's JSON 500 (20500) and a reference that the
    logged traceback carries too, then go on serving the connection.

    Starlette's own catch-all, `ServerErrorMiddleware`, re-raises after answering (so servers can
    log), and uvicorn then closes the connection: the caller's keep-alive connection dies with a
    plain-text answer if no handler is registered.  This middleware sits inside it and does not
    re-raise, except when the response had already started: a half-sent response cannot be
    mended, and the closed connection tells the caller so."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            if started:
                raise
            error = InternalError(new_token()[:12])
            log.exception(
                "unexpected error, reference %s, answering %s %s", error.reference, scope["method"], scope["path"]
            )
            await JSONResponse(error.body(), status_code=error.status)(scope, receive, send)
