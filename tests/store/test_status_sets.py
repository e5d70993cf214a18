"""Status changes set by set: a pacer round's outcomes, or status webhooks that arrived together,
written with one statement per table, in order per message, each applied change with one callback."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from gateway.dispatch.holds import release_due
from gateway.lifecycle import Status
from gateway.outbox.backlog import Backlog
from gateway.outbox.messages import Change, set_statuses
from gateway.store.db import unit_of_work, utcnow
from gateway.store.tables import Delivery, Message, MessageEvent
from tests.conftest import CA_MOBILE, US_MOBILE
from tests.store.test_holds import hold
from tests.store.test_inbound_batch import gateway  # noqa: F401  (the fixture)


def queued(engine: Engine, account: str, to: str, backlog: Backlog) -> Message:
    """A message accepted through the send path (a due hold, released at once: `queued`, with a status callback)."""
    message = hold(engine, account, to, timedelta(seconds=1), backlog)
    with unit_of_work(engine) as session:
        release_due(session, utcnow() + timedelta(seconds=2), backlog)
    return message


@contextmanager
def statements(engine: Engine) -> Iterator[Counter[str]]:
    """Every statement the engine runs meanwhile, by its first words (an `executemany` counts once)."""
    seen: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen[" ".join(statement.split()[:3]).replace('"', "")] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def callbacks(engine: Engine, sid: str) -> list[str]:
    with Session(engine) as session:
        rows = session.exec(select(Delivery).where(Delivery.ordering_key == sid).order_by(col(Delivery.id))).all()
    return [dict(json.loads(row.params))["MessageStatus"] for row in rows]


def test_changes_to_one_message_in_one_set_apply_in_order_and_a_late_sent_changes_nothing(gateway):  # noqa: F811
    """`sent`, `delivered` then a late `sent` in one set: the message ends `delivered`, all three are logged,
    the late one as not applied, and the app gets one callback per applied change."""
    engine, backlog = gateway["engine"], Backlog()
    message = queued(engine, gateway["account"], US_MOBILE, backlog)
    changes = [
        Change(message.sid, Status.SENT, "dispatch", provider_sid="SMprovider1"),
        Change(message.sid, Status.DELIVERED, "provider", provider_sid="SMprovider1"),
        Change(message.sid, Status.SENT, "provider", provider_sid="SMprovider1"),
    ]
    with unit_of_work(engine) as session:
        applied = set_statuses(session, changes, now=utcnow(), backlog=backlog)
    assert applied == [True, True, False]
    with Session(engine) as session:
        row = session.exec(select(Message).where(Message.sid == message.sid)).one()
        events = session.exec(
            select(MessageEvent).where(MessageEvent.message_sid == message.sid).order_by(col(MessageEvent.id))
        ).all()
    assert (row.status, row.provider_sid, row.date_sent is not None) == ("delivered", "SMprovider1", True)
    assert [(e.status, e.applied) for e in events][-3:] == [("sent", True), ("delivered", True), ("sent", False)]
    assert callbacks(engine, message.sid) == ["queued", "sent", "delivered"]
    assert sum(backlog.messages.values()) == 0


def test_a_set_of_outcomes_is_one_statement_per_table(gateway):  # noqa: F811
    """Six messages sent and two refused in one set: one read, one insert of events, one update per set of
    columns (sent; failed with a code), one insert of callbacks; however many messages."""
    engine, backlog = gateway["engine"], Backlog()
    sids = [queued(engine, gateway["account"], to, backlog).sid for to in [US_MOBILE, CA_MOBILE] * 4]
    changes = [Change(sid, Status.SENT, "dispatch", provider_sid=f"SM{i}") for i, sid in enumerate(sids[:6])]
    changes += [Change(sid, Status.FAILED, "dispatch", 21610, "Unsubscribed recipient") for sid in sids[6:]]
    with unit_of_work(engine) as session:
        session.connection()
        with statements(engine) as seen:
            set_statuses(session, changes, now=utcnow(), backlog=backlog)
    assert seen == Counter(
        {
            "SELECT message.sid, message.status,": 1,
            "INSERT INTO message_event": 1,
            "UPDATE message SET": 2,
            "INSERT INTO delivery": 1,
        }
    ), seen
    with Session(engine) as session:
        statuses = Counter(session.exec(select(Message.status).where(col(Message.sid).in_(sids))).all())
    assert statuses == Counter({"sent": 6, "failed": 2})
