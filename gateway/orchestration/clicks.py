"""Clicks on short links: recorded, classified and sent to the service's click callback.

The redirect answers before its click is written: a click is on the path of every person who taps a
link, and the group commit would add its wait to each redirect.  So `Clicks.record` only appends the
click to a list; one task hands the list to the writer (every click waiting goes in one transaction,
with their click events in the durable forwarding queue), then rings the forwarder, and goes on
while clicks came in meanwhile.  A click costs the event loop an append, not a task and a future.  A
process that dies between the redirect and the commit loses those clicks (a fraction of a second of
them), never a message.  A click changes nothing else: consent in particular is never touched.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from gateway.links import click_kind
from gateway.observability import metrics
from gateway.outbox.deliveries import delivery_row
from gateway.outbox.doorbell import Doorbell
from gateway.outbox.payloads import click_event_params
from gateway.store import deliveries
from gateway.store import links as link_rows
from gateway.store.writer import Writer

log = logging.getLogger("gateway.links")
CLICK_EVENT = "link_click"  # the deliveries' kind


@dataclass(frozen=True)
class Click:
    code: str
    method: str  # GET | HEAD
    user_agent: str | None
    at: datetime


def record_clicks(session: Session, clicks: list[Click]) -> None:
    """Each click's row, and its event for the service's click callback URL when it has one."""
    connection = session.connection()
    found = link_rows.clicked(connection, [click.code for click in clicks])
    rows, events, kinds = [], [], Counter[str]()
    for click in clicks:
        link = found.get(click.code)
        if link is None:  # the link was deleted since the redirect read it
            continue
        kind = click_kind(click.user_agent, click.method, click.at, link.delivered_at)
        rows.append(
            {
                "code": click.code,
                "message_sid": link.message_sid,
                "at": click.at,
                "method": click.method,
                "user_agent": click.user_agent,
                "kind": kind,
            }
        )
        kinds[kind] += 1
        if link.click_callback_url:
            params = click_event_params(
                message_sid=link.message_sid,
                account_sid=link.account_sid,
                service_sid=link.service_sid,
                to=link.to,
                sender=link.sender,
                link=link.url,
                shortened_link=link.shortened,
                link_create_time=link.date_created,
                click_time=click.at,
                user_agent=click.user_agent,
                click_kind=kind,
            )
            events.append(
                delivery_row(
                    kind=CLICK_EVENT,
                    account_sid=link.account_sid,
                    ordering_key=link.message_sid,
                    url=link.click_callback_url,
                    params=params,
                    now=click.at,
                    request_id=link.request_id,
                )
            )
    if rows:
        link_rows.add_clicks(connection, rows)
    if events:
        deliveries.write(connection, events)
    for kind, count in kinds.items():
        metrics.link_clicked(session, kind, count)


class Clicks:
    """Records clicks in the background (see the module docstring); `stop` waits for those in flight."""

    def __init__(self, writer: Writer, doorbell: Doorbell) -> None:
        self.writer, self.doorbell = writer, doorbell
        self._waiting: list[Click] = []
        self._writing: asyncio.Task[None] | None = None

    def record(self, click: Click) -> None:
        self._waiting.append(click)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self._waiting:
            clicks, self._waiting = self._waiting, []
            try:
                await self.writer.run(functools.partial(record_clicks, clicks=clicks))
            except Exception:  # the database is down: these clicks are lost, their redirects answered
                log.exception("%d clicks on short links were not recorded", len(clicks))
                continue
            self.doorbell.ring()

    async def stop(self) -> None:
        """Write the clicks still waiting (at shutdown, before the writer stops)."""
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)
