"""The queues page: per sender, what waits and how fast it goes; app webhooks that gave up, with replay.

- **Backlog**: messages and segments queued or being sent, from the process's own counts
  (`outbox.backlog.Backlog`, exact here and reloaded every second where other processes share
  the database), the same figures the 21611 gate uses.
- **MPS**: the sender's configured rate, in segments per second.
- **Achieved**: segments handed to the provider in the last 60 seconds ÷ 60.
- **Drain time**: backlog segments ÷ MPS, the best the pacer can do.
- **Oldest**: the age of the first message still queued (of either priority).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session
from starlette.responses import Response

from gateway.api.common import int_or_none
from gateway.console.web import Page, see_other, url
from gateway.dates import utcnow
from gateway.errors import NotFound
from gateway.forwarding.dead_letters import dead_letter_json, list_dead, replay
from gateway.store.queue_stats import oldest_queued, sent_since
from gateway.store.senders import senders

RATE_WINDOW = timedelta(seconds=60)
DEAD_LETTERS_SHOWN = 100


@dataclass(frozen=True)
class SenderQueue:
    sid: str
    address: str
    kind: str
    mps: int
    messages: int
    segments: int
    achieved: float  # segments per second over the last minute
    oldest_age: float | None  # seconds

    @property
    def drain_seconds(self) -> float:
        return self.segments / self.mps if self.mps else 0.0


def read_queues(session: Session, backlog: Any, account_sid: str, now: datetime) -> tuple[list[SenderQueue], list[Any]]:
    connection = session.connection()
    sent = sent_since(connection, account_sid, now - RATE_WINDOW)
    rows = []
    for sender in senders(session, account_sid):
        waiting = backlog.messages.get(sender.sid, 0)
        oldest = oldest_queued(connection, sender.sid) if waiting else None
        rows.append(
            SenderQueue(
                sender.sid,
                sender.address,
                sender.kind,
                sender.mps,
                waiting,
                backlog.segments.get(sender.sid, 0),
                sent.get(sender.sid, (0, 0))[1] / RATE_WINDOW.total_seconds(),
                (now - oldest).total_seconds() if oldest else None,
            )
        )
    dead = [dead_letter_json(d) for d in list_dead(session, account_sid, limit=DEAD_LETTERS_SHOWN)]
    return rows, dead


async def show(page: Page) -> Response:
    backlog = page.request.app.state.core.backlog
    rows, dead = await page.read(read_queues, backlog, page.account_sid, utcnow())
    return page.render("queues.html", senders=rows, dead=dead, replayed=page.request.query_params.get("replayed"))


async def replay_one(page: Page) -> Response:
    """Put one dead letter back in the outbox (`forwarding.dead_letters.replay`, as the API does)."""
    raw = page.request.path_params["id"]
    number = int_or_none(raw)
    ids = [number] if number is not None else []
    account_sid = page.account_sid
    count = await page.request.app.state.writer.run(lambda session: replay(session, account_sid, ids))
    if not count:
        raise NotFound(page.gettext("No dead letter %(id)s in this account.", id=raw))
    if page.request.app.state.forwarder is not None:
        page.request.app.state.forwarder.notify()
    return see_other(url("/console/queues", replayed=raw))
