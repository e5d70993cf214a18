"""The outbound core's entry: run `enqueue_send` in the writer, then wake the workers.

Callers (the Messages API, bulk notifications, inbound confirmations) get
back committed messages: by the time they answer, the queue row is durable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from gateway.dates import utcnow
from gateway.dispatch import holds
from gateway.dispatch.directory import Directory
from gateway.dispatch.submit import SendRequest, SubmitContext, enqueue_send, plan_send, prefetch, write_remembered
from gateway.errors import GatewayError
from gateway.lifecycle import SCHEDULED_LIMIT
from gateway.links import LinkDefaults
from gateway.outbox.backlog import Backlog, StickyLoad
from gateway.outbox.doorbell import Doorbell
from gateway.outbox.messages import Report, Reported, reported_messages, set_statuses
from gateway.policy.watcher import PolicyState
from gateway.providers.outages import SharedHealth
from gateway.store import queue, senders
from gateway.store.tables import Message
from gateway.store.writer import Writer


@dataclass
class Core:
    writer: Writer
    backlog: Backlog
    sticky: StickyLoad
    policy: PolicyState
    directory: Directory = field(default_factory=Directory)
    doorbell: Doorbell = field(default_factory=Doorbell)  # the workers of this process listen, while they run
    seen: int | None = None  # the config generation the caches belong to
    health: SharedHealth | None = None  # fed by dispatch, read from the database; routing avoids unhealthy providers
    scheduled_limit: int = SCHEDULED_LIMIT  # messages an account may have scheduled waiting (35125)
    links: LinkDefaults | None = None  # the gateway's short-link domain and lifetime (ShortenUrls)

    def context(self) -> SubmitContext:
        matcher = self.policy.matcher
        return SubmitContext(
            self.backlog,
            self.sticky,
            self.directory,
            matcher.policy.alpha_allowed if matcher else (lambda country: True),
            unhealthy=self.health.unhealthy() if self.health is not None else frozenset(),
            policy=matcher.policy if matcher else None,
            scheduled_limit=self.scheduled_limit,
            links=self.links,
        )

    async def send(self, request: SendRequest) -> Message:
        """Gate, route and enqueue one message; raises the `GatewayError` that refused it.  Sends
        waiting together share one `send_batch`: one INSERT for all their messages."""
        context = self.context()
        message: Message = await self.writer.run_batched(send_batch, (request, context, utcnow()))
        self.wake(context)
        return message

    async def cancel(self, account_sid: str, sid: str) -> Message | None:
        """Cancel the account's held message `sid` (None: no such message; 30409: no longer held);
        its `canceled` status callback goes out at once."""
        message = await self.writer.run(
            lambda session: holds.cancel(session, account_sid, sid, utcnow(), self.backlog), clean_on_error=True
        )  # refusals come before the first write
        self.doorbell.ring()
        return message

    async def explain(self, request: SendRequest, at: datetime | None = None) -> dict[str, Any]:
        """What `send(request)` would do at `at` (default: now) and why, from the same `plan_send`
        the send runs, in the writer (so it sees the caches and rows the send would), writing nothing."""
        context = self.context()
        now = at or utcnow()

        def job(session: Session) -> dict[str, Any]:
            return plan_send(session, request, context, now, prefetch(session, [request])).reasons()

        return await self.writer.run(job, clean_on_error=True)

    async def send_many(self, requests: Sequence[SendRequest]) -> list[Message | GatewayError]:
        """Each request gated and routed on its own (a refused one writes nothing); one transaction,
        and one `send_batch`, for all."""
        context = self.context()
        now = utcnow()
        results = await self.writer.run(lambda session: send_batch(session, [(r, context, now) for r in requests]))
        self.wake(context)
        return results

    async def report(self, report: Report) -> bool:
        """Apply a status webhook's reports; False when one names no message of ours.  A webhook
        naming another provider's message raises `Forbidden` and writes nothing.  Webhooks waiting
        together share one `_reports` batch."""
        known: bool = await self.writer.run_batched(self._reports, report)
        return known

    def _reports(self, session: Session, reports: list[Report]) -> list[bool | GatewayError]:
        """Every report of the webhooks in the batch applied with one set of statements."""
        found = reported_messages(session, reports)
        changes = [change for one in found if isinstance(one, Reported) for change in one.changes]
        set_statuses(session, changes, now=utcnow(), backlog=self.backlog)
        return [one.known if isinstance(one, Reported) else one for one in found]

    def changed(self, session: Session) -> None:
        """A service, pool or sender changed: drop what routing cached, here and (through the
        config generation) in every other process.  Call it inside the writer job."""
        senders.bump_generation(session.connection())
        self.sync(session)

    def sync(self, session: Session) -> None:
        """Drop the caches if another process changed the configuration.  Where API processes
        share the database, the writer runs this first in every transaction, so routing never
        uses a pool older than the last commit."""
        generation = senders.generation(session.connection())
        if generation != self.seen:
            self.directory.clear()
            self.sticky.clear()
            self.seen = generation

    def recount(self, session: Session) -> None:
        """Reload the queue counts, which other processes change too (a writer job, once a second
        when processes share the database)."""
        self.backlog.load(session)
        self.sticky.clear()

    def wake(self, context: SubmitContext) -> None:
        """After a commit: start the pacers of senders that got work, and the forwarder."""
        self.doorbell.ring(context.touched)


def send_batch(
    session: Session, items: list[tuple[SendRequest, SubmitContext, datetime]]
) -> list[Message | GatewayError]:
    """Each send gated and routed in turn (each sees the sticky mappings and queue counts the ones
    before it left), a refused one writing nothing; opt-out states and sticky mappings read once
    for the batch, the accepted messages inserted together."""
    rows: list[dict[str, Any]] = []
    results: list[Message | GatewayError] = []
    prefetched = prefetch(session, [request for request, _, _ in items])
    for request, context, now in items:
        try:
            results.append(enqueue_send(session, request, context, now, defer=rows, prefetched=prefetched))
        except GatewayError as exc:
            results.append(exc)
    write_remembered(session, prefetched)
    if rows:
        queue.insert_messages(session.connection(), rows)
    return results
