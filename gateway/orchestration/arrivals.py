"""What providers deliver, by webhook or over a held connection (SMPP's deliver_sm): a person's
message, joined first when it came in parts, and status reports.

Every process that receives holds one `Arrivals`: an API process for its webhooks, and any process
whose workers hold a provider's connection (`gateway worker` too, which serves no HTTP), so the
same message has the same effects whichever process took it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from sqlmodel import Session

from gateway.errors import Forbidden, NotFound, PolicyUnavailable
from gateway.observability import metrics
from gateway.orchestration.core import Core
from gateway.orchestration.inbound import Arrival, receive_batch
from gateway.outbox.backlog import Backlog
from gateway.outbox.messages import reported_message, set_status
from gateway.providers.base import InboundMessage, Status, StatusEvent
from gateway.providers.reassembly import Reassembly
from gateway.store.db import utcnow
from gateway.store.writer import Writer

log = logging.getLogger("gateway.webhooks")


class Arrivals:
    """The inbound path: `accept` a person's messages, `report` status events. `reassembly` joins
    the parts of long messages of the providers in `waits` (provider → seconds a part is awaited);
    `notify` wakes this process's forwarder, once it runs one, for the app's status callbacks."""

    def __init__(self, core: Core, writer: Writer, waits: Mapping[str, float]) -> None:
        self.core, self.writer = core, writer
        self.reassembly = Reassembly(writer, waits, lambda provider, message: self.receive(provider, [message]))
        self.notify: Callable[[], None] | None = None

    async def accept(self, name: str, messages: list[InboundMessage]) -> None:
        """Record whole messages; hold parts of long ones until the part that completes its message."""
        whole = [message for message in messages if message.part is None]
        for message in messages:
            if message.part is not None and (joined := await self.reassembly.hold(name, message)) is not None:
                whole.append(joined)
        if whole:
            await self.receive(name, whole)

    async def receive(self, name: str, messages: list[InboundMessage]) -> None:
        """Record whole messages and all they cause, one inbound batch of the writer for each."""
        matcher, catalogs = self.core.policy.matcher, self.core.policy.catalogs
        if matcher is None or catalogs is None:
            raise PolicyUnavailable("No valid policy revision is loaded.")
        context = self.core.context()
        now = utcnow()
        batch = [Arrival(name, message, matcher.policy, matcher.table, catalogs, context, now) for message in messages]
        try:  # each message joins the writer's next inbound batch (one set of statements for all waiting)
            if len(batch) == 1:  # nearly always: awaited directly, without gather's task (9 µs)
                results = [await self.writer.run_batched(receive_batch, batch[0])]
            else:
                results = await asyncio.gather(*(self.writer.run_batched(receive_batch, one) for one in batch))
        except NotFound:
            log.warning("%s inbound message to an unknown number %s refused", name, messages[0].to if messages else "?")
            raise
        self.core.wake(context)
        for result in results:
            if not result.duplicate:
                metrics.inbound(name, result.opt_out_type, result.language)
            log.info(
                "inbound %s%s%s",
                result.message_sid,
                f" {result.opt_out_type}" if result.opt_out_type else "",
                " (retry, already processed)" if result.duplicate else "",
            )

    async def report(self, name: str, events: list[StatusEvent], reference: str | None = None) -> bool:
        """Apply status reports and wake the forwarder for the app's callbacks; False when a report's
        message is not known."""
        backlog = self.core.backlog
        found: bool = await self.writer.run(
            lambda session: _apply(session, name, events, reference, backlog), clean_on_error=True
        )
        if self.notify is not None:
            self.notify()
        return found

    # `providers.base.Deliveries`: what a held connection hands on.

    async def inbound(self, provider: str, message: InboundMessage) -> None:
        await self.accept(provider, [message])

    async def reports(self, provider: str, events: list[StatusEvent]) -> bool:
        try:
            return await self.report(provider, events)
        except Forbidden as exc:  # another provider's message: logged by `reported_message`
            log.warning("%s report refused: %s", provider, exc)
            return True


def _apply(session: Session, provider: str, events: list[StatusEvent], reference: str | None, backlog: Backlog) -> bool:
    """Apply each report to its message; all refused (nothing written) if one names another provider's
    message.  False when a report's message is not known."""
    now = utcnow()
    found = [reported_message(session, provider, event.reference or reference, event.provider_sid) for event in events]
    for event, sid in zip(events, found, strict=True):
        if sid is None or event.status is Status.UNKNOWN:
            continue  # not ours, or a word we do not know: logged by the adapter, never a crash
        set_status(
            session,
            sid,
            event.status,
            now=now,
            source="provider",
            backlog=backlog,
            error_code=event.error_code,
            provider_sid=event.provider_sid,
        )
    return None not in found
