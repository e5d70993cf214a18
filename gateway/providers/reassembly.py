"""Long inbound messages whose provider sends each part alone (Vonage): joined before any decision.

A provider module opts in with `reassembly_wait` (Vonage's: GATEWAY_VONAGE_CONCAT_WAIT); its
adapter's `parse_inbound` sets `part` on each part, and the webhook edge hands parts to the app's
`Reassembly`, whose timers the app's lifespan starts and cancels.

Each part is stored (`inbound_part`) as it arrives, in any order, and answered at once. The
part that completes its group returns the joined message, which then goes through the inbound
path like any other, so STOP in a three-part message is one message and one decision. A group
still incomplete after the provider's wait is joined from the parts that came
(a timer per part stored, and one at every start, so a restart loses nothing) and a part
arriving after that is logged and dropped.

The joined message's id is that of its lowest part: a retried part (same message id) of a group
already joined joins it again with the same id, which the inbound receipts recognise, so a
webhook retried after a failure is processed exactly once. A part with the reference of a joined
group but another message id starts a new group: senders reuse references. Two processes
storing the last two parts at the same instant may each see the group incomplete; the wait then
joins it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from functools import partial

from sqlmodel import Session

from gateway.errors import Forbidden, NotFound
from gateway.providers.base import InboundMessage, twilio_fields
from gateway.store import inbound_parts
from gateway.store.db import utcnow
from gateway.store.inbound_parts import Group
from gateway.store.tables import InboundPart
from gateway.store.writer import Writer

log = logging.getLogger("gateway.webhooks")

KEEP_JOINED = timedelta(days=1)  # Vonage retries a webhook for 24 h


class Reassembly:
    """The parts of long messages of the providers that opted in (provider → seconds awaited), and
    the timers that join an incomplete one when its wait ends: one per part stored and one per
    provider at start (a restart loses nothing). `stop` cancels the timers and the flushes running."""

    def __init__(
        self, writer: Writer, waits: Mapping[str, float], receive: Callable[[str, InboundMessage], Awaitable[None]]
    ) -> None:
        self.writer = writer
        self.waits = dict(waits)
        self.receive = receive  # records a joined message as the webhook edge records a whole one
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Join what came of long messages whose parts stopped coming before a restart."""
        for provider in self.waits:
            self._flush_later(provider)

    async def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def pending(self) -> int:
        """Timers not yet fired and flushes still running."""
        return len(self._timers) + len(self._tasks)

    async def hold(self, provider: str, message: InboundMessage) -> InboundMessage | None:
        """Store one part; the whole message once every part is in, else None (and a timer for the wait)."""
        joined = await self.writer.run(lambda session: hold(session, provider, message, utcnow()))
        if joined is None:
            self._flush_later(provider)
        return joined

    def _flush_later(self, provider: str) -> None:
        loop = asyncio.get_running_loop()

        def start() -> None:
            self._timers.discard(handle)
            task = loop.create_task(self._flush(provider))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        handle = loop.call_later(self.waits[provider] + 0.05, start)
        self._timers.add(handle)

    async def _flush(self, provider: str) -> None:
        wait = self.waits[provider]
        try:
            due = await self.writer.run(lambda session: flush(session, provider, wait, utcnow()))
        except Exception:  # the next part's timer, or the next start's, tries again
            log.exception("joining incomplete long messages failed")
            return
        for group, message in due:
            try:
                await self.receive(provider, message)
            except (NotFound, Forbidden) as exc:  # refused like any webhook to that number: dropped
                log.warning("%s long message %s from %s refused: %s", provider, group[3], group[1], exc)
            except Exception:
                log.exception(
                    "recording the long message %s from %s failed; the next flush retries", group[3], group[1]
                )
                try:
                    await self.writer.run(partial(release, group=group))
                except Exception:  # the database is gone: the group stays marked, as the log says
                    log.exception("could not release the long message %s from %s", group[3], group[1])


def hold(session: Session, provider: str, message: InboundMessage, now: datetime) -> InboundMessage | None:
    """Store one part; return the whole message once every part is in (again on a retried part)."""
    part = message.part
    assert part is not None, "hold takes parts only"
    key = (provider, message.sender, message.to, part.ref)
    existing = session.get(InboundPart, (*key, part.number))
    if existing is not None and existing.provider_sid != message.provider_sid and existing.joined_at is not None:
        # Not a retry (another message id): the sender reused the reference of a message already joined.
        inbound_parts.forget(session, key)
        session.expunge(existing)
        existing = None
    if existing is None:
        session.add(
            InboundPart(
                provider=provider,
                sender=message.sender,
                to=message.to,
                ref=part.ref,
                number=part.number,
                total=part.total,
                provider_sid=message.provider_sid,
                body=message.body,
                raw=json.dumps(message.raw),
                received_at=now,
            )
        )
        session.flush()
    rows = inbound_parts.parts(session, key)
    complete = len({row.number for row in rows}) >= part.total
    if not complete:
        if any(row.joined_at is not None for row in rows):
            log.warning(
                "%s part %d/%d of %s from %s came after the wait: dropped",
                provider,
                part.number,
                part.total,
                part.ref,
                message.sender,
            )
        return None
    _mark_joined(session, rows, now)
    return join(rows)


def flush(session: Session, provider: str, wait: float, now: datetime) -> list[tuple[Group, InboundMessage]]:
    """Join the provider's groups whose wait has ended from the parts that came; forget its day-old joined groups."""
    inbound_parts.forget_joined_before(session, provider, now - KEEP_JOINED)
    waiting = inbound_parts.waiting(session, provider)
    groups: dict[Group, list[InboundPart]] = {}
    for row in waiting:
        groups.setdefault((row.provider, row.sender, row.to, row.ref), []).append(row)
    due = [rows for rows in groups.values() if min(row.received_at for row in rows) <= now - timedelta(seconds=wait)]
    for rows in due:
        numbers = sorted(row.number for row in rows)
        log.warning(
            "%s message %s from %s joined incomplete after %g s: parts %s of %d",
            rows[0].provider,
            rows[0].ref,
            rows[0].sender,
            wait,
            numbers,
            rows[0].total,
        )
        _mark_joined(session, rows, now)
    return [((rows[0].provider, rows[0].sender, rows[0].to, rows[0].ref), join(rows)) for rows in due]


def release(session: Session, group: Group) -> None:
    """Undo `flush`'s mark on a group whose joined message could not be recorded: the next flush retries."""
    inbound_parts.unmark_joined(session, group)


def join(rows: list[InboundPart]) -> InboundMessage:
    """The parts in order as one message; every part's fields are kept for the audit."""
    ordered = sorted(rows, key=lambda row: row.number)
    first = ordered[0]
    body = "".join(row.body for row in ordered)
    parts = [[(k, v) for k, v in json.loads(row.raw) if k.startswith(f"{first.provider}.")] for row in ordered]
    raw = [
        *twilio_fields(first.sender, first.to, body),
        ("NumSegments", str(len(ordered))),
        (f"{first.provider}.parts", json.dumps(parts)),
    ]
    return InboundMessage(
        provider_sid=first.provider_sid, sender=first.sender, to=first.to, body=body, media_urls=(), raw=tuple(raw)
    )


def _mark_joined(session: Session, rows: list[InboundPart], now: datetime) -> None:
    first = rows[0]
    inbound_parts.mark_joined(session, (first.provider, first.sender, first.to, first.ref), now)
