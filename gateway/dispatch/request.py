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

from gateway.observability import metrics
from gateway.providers.base import (
    Credentials,
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
    ) -> None:
        self.client, self.providers, self.credentials = client, providers, credentials
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
            media_urls=tuple(u for u in message.media.split("\n") if u),
            status_callback=self.callback_url(provider.name, message.sid),
            validity_period=max(1, int((message.expires_at - now).total_seconds())),
        )
        loop = asyncio.get_running_loop()
        if self.health is not None and (wait := await self.health.wait(provider.name)) is not None:
            raise Unhealthy(provider.name, max(paused_until, loop.time() + wait), loop.time())
        try:
            async with self._slots:
                end = deadline()
                if end - loop.time() < REQUEST_BUDGET:
                    raise Retryable("the sender's lease ends before a request could be answered")
                request = provider.build_send(outbound, self.credentials[provider.name])
                if message.request_id:
                    request.headers["X-Request-Id"] = message.request_id
                started = loop.time()
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
            metrics.provider_failed(
                provider.name,
                "throttled"
                if isinstance(exc, Throttled)
                else "server_error"
                if isinstance(exc, Retryable)
                else "rejected",
            )
            raise
