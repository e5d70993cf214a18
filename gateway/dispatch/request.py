"""One message's request to its provider, guarded: the provider's circuit breaker, a request slot
(`IN_FLIGHT` at once for the process), the sender lease's deadline, the metrics.

It raises the `ProviderError` kinds and nothing else a provider causes (transport errors and
timeouts become `Retryable`); the worker decides what each does to the message and its pacer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx2
from sqlalchemy.engine import Row

from gateway import media
from gateway.observability import metrics
from gateway.providers.base import (
    Credentials,
    Link,
    OutboundMessage,
    Provider,
    ProviderError,
    Retryable,
    SendResult,
    Throttled,
)
from gateway.providers.outages import SharedHealth
from gateway.store.tables import Sender

#: Requests to providers in flight at once, all senders together.  Measured: an async HTTP client
#: gets through more requests per second with a few dozen in flight than with hundreds.
IN_FLIGHT = 32
#: A provider request starts only with at least this many seconds left before the lease's deadline.
REQUEST_BUDGET = 1.0


class Unhealthy(Retryable):
    """The provider's breaker is open: its senders wait until `until` (loop time): its next probe, or
    the next look at the shared health, whichever is first."""

    def __init__(self, provider: str, until: float, now: float) -> None:
        super().__init__(f"provider {provider} is unhealthy; waiting for its next probe", max(0.0, until - now))
        self.until = until


class ProviderRequests:
    def __init__(
        self,
        client: httpx2.AsyncClient,
        providers: Mapping[str, Provider],
        credentials: Mapping[str, Credentials],
        callback_url: Callable[[str, str], str],
        health: SharedHealth | None = None,
        links: Mapping[str, Link] | None = None,
    ) -> None:
        self.client, self.providers, self.credentials = client, providers, credentials
        self.links = links or {}  # providers reached over a held connection (SMPP), not HTTP
        self.callback_url = callback_url  # (provider, sid) → the status callback URL the request carries
        self.health = health  # each provider's circuit breaker, shared by the deployment, fed with every outcome
        self._slots = asyncio.Semaphore(IN_FLIGHT)

    def provider_of(self, message: Row[Any], sender: Sender) -> Provider:
        return self.providers[message.provider or sender.provider]

    async def send(
        self, message: Row[Any], sender: Sender, *, now: datetime, paused_until: float, deadline: Callable[[], float]
    ) -> SendResult:
        """Request `message` from its provider and read the answer.  `deadline()` is the loop time
        by which the request must end (read once a slot is ours: the lease may have been renewed
        while we waited); a request that could not be answered before it is not started, since one
        cut off in flight has an unknown outcome and its retry is a second request for the message."""
        provider = self.provider_of(message, sender)
        outbound = OutboundMessage(
            sid=message.sid,
            sender=message.sender or sender.address,
            to=message.to,
            body=message.body,
            media_urls=media.urls(message.media),
            status_callback=self.callback_url(provider.name, message.sid),
            validity_period=max(1, int((message.expires_at - now).total_seconds())),
        )
        loop = asyncio.get_running_loop()
        if self.health is not None and (wait := await self.health.wait(provider.name)) is not None:
            raise Unhealthy(provider.name, max(paused_until, loop.time() + wait), loop.time())
        link = self.links.get(provider.name)
        try:
            async with self._slots:
                end = deadline()
                if end - loop.time() < REQUEST_BUDGET:
                    raise Retryable("the sender's lease ends before a request could be answered")
                started = loop.time()
                if link is not None:
                    async with asyncio.timeout_at(end):
                        return await self._over_link(link, provider.name, outbound, started)
                request = provider.build_send(outbound, self.credentials[provider.name])
                if message.request_id:
                    request.headers["X-Request-Id"] = message.request_id
                async with asyncio.timeout_at(end):
                    response = await self.client.send(request)
        except (httpx2.TransportError, TimeoutError) as exc:
            metrics.provider_failed(
                provider.name, "timeout" if isinstance(exc, (TimeoutError, httpx2.TimeoutException)) else "transport"
            )
            if self.health is not None:
                await self.health.failure(provider.name)
            raise Retryable(f"{type(exc).__name__}: {exc}") from exc
        metrics.provider_answered(provider.name, loop.time() - started)
        if self.health is not None:
            await (self.health.failure if response.status_code >= 500 else self.health.success)(provider.name)
        try:
            return provider.read_send(response)
        except ProviderError as exc:
            _failed(provider.name, exc)
            raise

    async def _over_link(self, link: Link, name: str, outbound: OutboundMessage, started: float) -> SendResult:
        """A send over a held connection: its refusals count as an HTTP provider's answers do, and a
        lost connection (`Retryable`) as a transport error."""
        loop = asyncio.get_running_loop()
        try:
            result = await link.send(outbound)
        except ProviderError as exc:
            _failed(name, exc)
            if self.health is not None:
                retryable = isinstance(exc, Retryable) and not isinstance(exc, Throttled)
                await (self.health.failure if retryable else self.health.success)(name)
            raise
        metrics.provider_answered(name, loop.time() - started)
        if self.health is not None:
            await self.health.success(name)
        return result


def _failed(name: str, exc: ProviderError) -> None:
    metrics.provider_failed(
        name,
        "throttled" if isinstance(exc, Throttled) else "server_error" if isinstance(exc, Retryable) else "rejected",
    )
