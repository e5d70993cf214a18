"""The background side of a gateway process: dispatch and forwarding workers and their upkeep.

`gateway serve` runs them beside the HTTP API (unless GATEWAY_WORKERS=false);
`gateway worker` runs only them.  Any number of processes may run them on one
database: senders are shared out through leases and the outbox through claims
(see `store.leases`, `forwarding.worker`).  On SQLite only the processes of one
`gateway serve` do, so whatever an earlier life left claimed is taken back at
once when it starts: by its process alone, or by `serve --workers N` before its
processes start (`take_back_everything`).  On PostgreSQL that happens only for
a worker with a stable `GATEWAY_WORKER_ID`; others, and a process of `serve
--workers N` restarted alone, wait for the leases to lapse.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx2
from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.accounts import Accounts
from gateway.dispatch.request import ProviderRequests
from gateway.dispatch.worker import Dispatcher
from gateway.forwarding.destinations import Destinations, GuardedTransport, destinations
from gateway.forwarding.worker import Forwarder
from gateway.orchestration.arrivals import Arrivals
from gateway.orchestration.core import Core
from gateway.outbox.backlog import Backlog, StickyLoad
from gateway.policy.watcher import PolicyState
from gateway.providers import MODULES, PROVIDERS
from gateway.providers.base import Link
from gateway.providers.health import ProviderHealth
from gateway.providers.outages import SharedHealth
from gateway.settings import Settings
from gateway.store import deliveries, leases, reads
from gateway.store.db import make_engine, unit_of_work, writer_engine
from gateway.store.reads import PAGES
from gateway.store.tables import Service
from gateway.store.writer import Writer
from gateway.tokens import token_cipher

log = logging.getLogger("gateway")


@dataclass(frozen=True)
class Workers:
    """The workers of a running process: the health check asks whether both still run."""

    dispatcher: Dispatcher
    forwarder: Forwarder
    links: dict[str, Link]  # the held connections of providers reached over one (SMPP), by provider

    def running(self) -> bool:
        return self.dispatcher.running() and self.forwarder.running()


def worker_name(settings: Settings) -> str:
    return settings.worker_id or f"{socket.gethostname()[:24]}-{os.getpid()}-{secrets.token_hex(3)}"


def http_timeout(settings: Settings) -> httpx2.Timeout:
    """Every outbound request's limits (providers, apps, the simulator's callbacks): a peer that
    accepts and never answers, or stops reading, is cut off instead of holding a worker's slot."""
    return httpx2.Timeout(
        connect=settings.http_connect_timeout,
        read=settings.http_timeout,
        write=settings.http_timeout,
        pool=settings.http_connect_timeout,
    )


def request_deadline(settings: Settings) -> float:
    """The most one request may take in all (connect, send, answer): an app that answers a byte at
    a time within the read timeout is cut off here."""
    return settings.http_connect_timeout + 2 * settings.http_timeout


def http_client(settings: Settings, policy: Destinations | None = None) -> httpx2.AsyncClient:
    """The client for providers (`policy` None) or for apps: connecting only where the callback
    destination policy allows, directly, never following a redirect (see `forwarding.destinations`)."""
    limits = httpx2.Limits(max_connections=64, max_keepalive_connections=64)
    transport = GuardedTransport(policy, limits=limits) if policy is not None else None
    return httpx2.AsyncClient(
        timeout=http_timeout(settings), limits=limits, transport=transport, follow_redirects=False
    )


@contextlib.asynccontextmanager
async def workers(
    settings: Settings,
    engine: Engine,
    writer: Writer,
    core: Core,
    accounts: Accounts,
    client: httpx2.AsyncClient,
    arrivals: Arrivals | None = None,
) -> AsyncIterator[Workers]:
    """Run a dispatcher (sending with `client`, and over the links of providers reached by a held
    connection, SMPP, which hand what arrives to `arrivals`) and a forwarder (with a client of its
    own, guarded by the callback destination policy) until the block ends; then they stop, finish
    what is in flight and hand back their leases and claims, and the links close."""
    owner = worker_name(settings)
    if settings.alone or settings.worker_id:
        earlier = None if settings.alone else owner
        try:
            await writer.run(lambda session: _take_back(session, earlier))
        except Exception as exc:  # database down: the earlier leases and claims lapse by themselves
            log.error("could not take back what an earlier run left claimed: %s", exc)
    base = settings.public_url or settings.local_url
    credentials = {name: module.credentials(settings) for name, module in MODULES.items()}
    apps = http_client(settings, destinations(settings))  # the forwarder's: apps' URLs are guarded
    reads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gateway-read")
    links: dict[str, Link] = {
        name: module.link(settings)
        for name, module in MODULES.items()
        if module.link is not None and arrivals is not None and not module.missing_to_send(settings)
    }
    requests = ProviderRequests(
        client,
        PROVIDERS,
        credentials,
        lambda provider, sid: _callback(base, provider, sid),
        health=core.health,
        links=links,
    )
    dispatcher = Dispatcher(
        engine,
        writer,
        core.backlog,
        requests,
        reads,
        owner=owner,
        lease_ttl=settings.lease_ttl,
        policy=lambda: core.policy.matcher.policy if core.policy.matcher is not None else None,
        links=core.links,
    )
    forwarder = Forwarder(
        writer,
        accounts.current_token,
        apps,
        secret_of=lambda account_sid, service_sid: PAGES.read(engine, _webhook_secret, account_sid, service_sid),
        owner=owner,
        deadline=request_deadline(settings),
        max_age=timedelta(seconds=settings.forward_retry_horizon),
        claim_for=2 * request_deadline(settings) + settings.lease_ttl,
    )  # a request and its fallback
    forwarder.start()
    if arrivals is not None:
        arrivals.notify = forwarder.notify
        for link in links.values():
            await link.start(arrivals)
    await dispatcher.start()
    log.info("worker %s started", owner)
    try:
        with core.doorbell.listening(dispatcher.notify, forwarder.notify):
            yield Workers(dispatcher, forwarder, links)
    finally:
        await dispatcher.stop()
        for link in links.values():
            await link.stop()
        if arrivals is not None:
            arrivals.notify = None
        await forwarder.stop()
        reads.shutdown(wait=True)
        await apps.aclose()


def take_back_everything(settings: Settings) -> None:
    """SQLite, before `serve --workers N` starts its processes: no process of an earlier run is
    left to finish what it claimed, and none of this run has claimed anything yet."""
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(writer_engine(engine)) as session:
            _take_back(session, None)
    finally:
        engine.dispose()


def _take_back(session: Session, owner: str | None) -> None:
    """What `owner`'s earlier life (None: anyone) left claimed goes back to the queue and outbox."""
    leases.release_everything(session, owner=owner)
    deliveries.unclaim(session, owner)


def receiving(settings: Settings, writer: Writer, core: Core) -> Arrivals:
    """The inbound path of a process, joining the long messages of the providers that opted in."""
    waits = {name: module.reassembly_wait(settings) for name, module in MODULES.items() if module.reassembly_wait}
    return Arrivals(core, writer, waits)


async def watch_policy(policy: PolicyState, interval: float, after: Callable[[], None] = lambda: None) -> None:
    """Reload the policy when its files change, then run `after` (it may write the database: stopped,
    this waits for it, `reads.in_thread`), every `interval` seconds."""
    while True:
        await asyncio.sleep(interval)
        if await asyncio.to_thread(policy.changed):
            await asyncio.to_thread(policy.reload)
        await reads.in_thread(after)


async def recount(writer: Writer, core: Core, interval: float = 1.0) -> None:
    """Keep the queue counts true when other processes share the database."""
    while True:
        await asyncio.sleep(interval)
        try:
            await writer.run(core.recount)
        except Exception as exc:
            log.warning("queue recount failed: %s", exc)


def _callback(base: str, provider: str, sid: str) -> str:
    """The status callback URL a send gives its provider: `ref` names our message, except for a
    provider that echoes our sid back in a signed field instead (see `reference_in_callback`)."""
    adapter = PROVIDERS.get(provider)
    if adapter is not None and not adapter.reference_in_callback:
        return f"{base}/webhooks/{provider}/status"
    return f"{base}/webhooks/{provider}/status?ref={sid}"


def _webhook_secret(session: Session, account_sid: str, service_sid: str) -> str | None:
    """The Standard Webhooks secret of a service (JSON-format forwards)."""
    service = session.get(Service, service_sid)
    return service.webhook_secret if service is not None and service.account_sid == account_sid else None


async def run_worker(settings: Settings) -> None:
    """`gateway worker`: dispatch and forwarding without HTTP, until SIGTERM or SIGINT. What arrives
    over the connections its workers hold (SMPP) goes through the inbound path an API process
    gives webhooks: the policy loaded and watched, the configuration caches checked in each
    transaction (API processes change it), long messages joined."""
    engine = make_engine(settings.database_url)
    accounts = Accounts(engine, token_cipher(settings))
    writer = Writer(engine)
    core = Core(
        writer,
        Backlog(),
        StickyLoad(),
        PolicyState(settings.policies_dir, settings.locales_dir),
        health=SharedHealth(
            ProviderHealth(settings.provider_failure_window, settings.provider_probe_interval), writer, engine
        ),
    )
    writer.before_batch = core.sync
    arrivals = receiving(settings, writer, core)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    core.policy.reload()
    writer.start()
    arrivals.reassembly.start()
    watch = asyncio.create_task(watch_policy(core.policy, settings.policy_reload_interval))
    health = asyncio.create_task(core.health.watch()) if core.health is not None else None
    try:
        async with (
            http_client(settings) as client,
            workers(settings, engine, writer, core, accounts, client, arrivals),
        ):
            await stop.wait()
            log.info("stopping: finishing sends in flight and handing back leases")
    finally:
        tasks = [watch] + ([health] if health is not None else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await arrivals.reassembly.stop()
        writer.stop()
        engine.dispose()
