"""Batch semantics of the set-oriented inbound path: several webhooks handed to the writer before
it wakes are one `receive_batch` in one transaction, and behave exactly as if they had come one
after another."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select

from gateway.dispatch.directory import Directory
from gateway.dispatch.submit import SubmitContext
from gateway.errors import NotFound
from gateway.orchestration.inbound import Arrival, Received, receive_batch
from gateway.outbox.backlog import Backlog, StickyLoad
from gateway.providers.base import InboundMessage
from gateway.store.db import make_engine, migrate, utcnow
from gateway.store.tables import ConsentEvent, Delivery, InboundReceipt, Message, OptOut, Sender
from gateway.store.writer import Writer
from tests.conftest import FR_MOBILE, US_MOBILE
from tests.store.seed import SENDER, account_with_service


@pytest.fixture
def gateway(database_url: str) -> Iterator[dict[str, Any]]:
    """An account with a service whose one number receives, and a writer not yet started."""
    migrate(database_url)
    engine = make_engine(database_url)
    account, _ = account_with_service(engine, "batch", inbound_request_url="http://127.0.0.1:9/app")
    writer = Writer(engine)
    yield {"engine": engine, "writer": writer, "account": account}
    writer.stop()
    engine.dispose()


def arrival(
    shipped,
    shipped_catalogs,
    person: str,
    body: str,
    *,
    sid: str | None = None,  # type: ignore[no-untyped-def]
    to: str = SENDER,
) -> Arrival:
    message = InboundMessage(
        provider_sid=sid or "SM" + uuid.uuid4().hex,
        sender=person,
        to=to,
        body=body,
        media_urls=(),
        raw=(("From", person), ("To", to), ("Body", body)),
    )
    context = SubmitContext(Backlog(), StickyLoad(), Directory(), shipped.policy.alpha_allowed)
    return Arrival("twilio", message, shipped.policy, shipped.table, shipped_catalogs, context, utcnow())


def one_batch(writer: Writer, arrivals: list[Arrival]) -> list[Received | BaseException]:
    """Hand every arrival to the writer before its thread starts, so they are one batch."""

    async def run() -> list[Received | BaseException]:
        tasks = [asyncio.ensure_future(writer.run_batched(receive_batch, a)) for a in arrivals]
        await asyncio.sleep(0)  # every item is in the writer's queue
        writer.start()
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(run())


def rows(engine, model) -> list:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.exec(select(model)).all()


def test_a_stop_then_a_start_from_one_number_in_one_batch_ends_opted_in_with_both_events(
    gateway, shipped, shipped_catalogs
):
    results = one_batch(
        gateway["writer"],
        [arrival(shipped, shipped_catalogs, US_MOBILE, "STOP"), arrival(shipped, shipped_catalogs, US_MOBILE, "START")],
    )
    assert [r.opt_out_type for r in results] == ["STOP", "START"]  # type: ignore[union-attr]
    assert [e.opted_out for e in rows(gateway["engine"], ConsentEvent)] == [True, False]
    assert [s.opted_out for s in rows(gateway["engine"], OptOut)] == [False]


def test_both_are_confirmed_and_both_forwarded(gateway, shipped, shipped_catalogs):
    one_batch(
        gateway["writer"],
        [arrival(shipped, shipped_catalogs, US_MOBILE, "STOP"), arrival(shipped, shipped_catalogs, US_MOBILE, "START")],
    )
    replies = [m for m in rows(gateway["engine"], Message) if m.direction == "outbound-reply"]
    assert len(replies) == 2 and all(m.status == "queued" for m in replies)
    assert len(rows(gateway["engine"], Delivery)) == 2


def test_fifty_copies_of_one_webhook_in_one_batch_are_processed_once(gateway, shipped, shipped_catalogs):
    sid = "SM" + uuid.uuid4().hex
    results = one_batch(
        gateway["writer"], [arrival(shipped, shipped_catalogs, FR_MOBILE, "Arrêt", sid=sid) for _ in range(50)]
    )
    assert [r.duplicate for r in results] == [False] + [True] * 49  # type: ignore[union-attr]
    assert len({r.message_sid for r in results}) == 1  # type: ignore[union-attr]
    assert len(rows(gateway["engine"], InboundReceipt)) == 1
    assert len([m for m in rows(gateway["engine"], Message) if m.direction == "inbound"]) == 1
    assert len(rows(gateway["engine"], ConsentEvent)) == 1 and len(rows(gateway["engine"], Delivery)) == 1


def test_a_refused_arrival_leaves_the_others_of_its_batch_committed(gateway, shipped, shipped_catalogs):
    results = one_batch(
        gateway["writer"],
        [
            arrival(shipped, shipped_catalogs, US_MOBILE, "STOP"),
            arrival(shipped, shipped_catalogs, FR_MOBILE, "STOP", to="+12125550100"),  # nobody's number
            arrival(shipped, shipped_catalogs, FR_MOBILE, "Arrêt"),
        ],
    )
    assert isinstance(results[1], NotFound)
    assert {r.opt_out_type for r in (results[0], results[2])} == {"STOP"}  # type: ignore[union-attr]
    assert sorted(s.number for s in rows(gateway["engine"], OptOut)) == sorted([US_MOBILE, FR_MOBILE])
    assert len(rows(gateway["engine"], InboundReceipt)) == 2


def test_a_failing_batch_runs_its_items_one_by_one_without_double_effects(gateway, shipped, shipped_catalogs):
    """A handler that fails for the whole batch (here: on one poisoned item) is rolled back; each item
    then runs alone, so the good ones are written once and only the poisoned one fails."""
    calls: list[int] = []

    def fragile(session: Session, items: list[Arrival]) -> list[Any]:
        calls.append(len(items))
        if any(item.message.body == "poison" for item in items):
            raise RuntimeError("poisoned batch")
        return receive_batch(session, items)

    arrivals = [
        arrival(shipped, shipped_catalogs, US_MOBILE, "STOP"),
        arrival(shipped, shipped_catalogs, FR_MOBILE, "poison"),
        arrival(shipped, shipped_catalogs, FR_MOBILE, "Arrêt"),
    ]

    async def run() -> list[Any]:
        tasks = [asyncio.ensure_future(gateway["writer"].run_batched(fragile, a)) for a in arrivals]
        await asyncio.sleep(0)
        gateway["writer"].start()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(run())
    assert calls == [3, 1, 1, 1]
    assert isinstance(results[1], RuntimeError) and not isinstance(results[0], BaseException)
    assert len(rows(gateway["engine"], InboundReceipt)) == 2
    assert len(rows(gateway["engine"], ConsentEvent)) == 2
    assert len([m for m in rows(gateway["engine"], Message) if m.direction == "outbound-reply"]) == 2


def test_a_batch_whose_transaction_fails_is_retried_job_by_job_without_double_effects(
    gateway, shipped, shipped_catalogs
):
    """A plain job that breaks its promise to raise only before writing fails the whole transaction;
    every job and batch item of it then runs alone, so the STOPs land once and only that job fails."""

    def broken(session: Session) -> None:
        raise RuntimeError("a bug after writing")

    arrivals = [
        arrival(shipped, shipped_catalogs, US_MOBILE, "STOP"),
        arrival(shipped, shipped_catalogs, FR_MOBILE, "Arrêt"),
    ]

    async def run() -> list[Any]:
        writer = gateway["writer"]
        tasks = [
            asyncio.ensure_future(writer.run_batched(receive_batch, arrivals[0])),
            asyncio.ensure_future(writer.run(broken, clean_on_error=True)),
            asyncio.ensure_future(writer.run_batched(receive_batch, arrivals[1])),
        ]
        await asyncio.sleep(0)
        writer.start()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(run())
    assert isinstance(results[1], RuntimeError) and [r.duplicate for r in (results[0], results[2])] == [False, False]
    assert len(rows(gateway["engine"], InboundReceipt)) == 2 and len(rows(gateway["engine"], ConsentEvent)) == 2


def test_an_item_that_lost_a_key_race_runs_once_more(gateway, shipped, shipped_catalogs):
    """Another process wrote the same key first (IntegrityError): the item runs again and finds it."""
    from sqlalchemy.exc import IntegrityError

    attempts: list[int] = []

    def racing(session: Session, items: list[Arrival]) -> list[Any]:
        attempts.append(len(items))
        if len(attempts) == 1:
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))
        return receive_batch(session, items)

    async def run() -> Any:
        task = asyncio.ensure_future(
            gateway["writer"].run_batched(racing, arrival(shipped, shipped_catalogs, US_MOBILE, "STOP"))
        )
        await asyncio.sleep(0)
        gateway["writer"].start()
        return await task

    assert asyncio.run(run()).opt_out_type == "STOP" and attempts == [1, 1]


def test_a_text_from_a_short_code_is_recorded_and_forwarded_without_keywords(gateway, shipped, shipped_catalogs):
    [result] = one_batch(gateway["writer"], [arrival(shipped, shipped_catalogs, "24273", "STOP")])
    assert result.opt_out_type is None  # type: ignore[union-attr]
    assert rows(gateway["engine"], OptOut) == [] and len(rows(gateway["engine"], Delivery)) == 1


def test_a_confirmation_that_cannot_be_queued_leaves_the_opt_out_in_effect(gateway, shipped, shipped_catalogs):
    """The sender's queue is full (21611): the STOP is recorded and forwarded, only its reply is missing."""
    stop = arrival(shipped, shipped_catalogs, US_MOBILE, "STOP")
    with Session(gateway["engine"]) as session:
        sender = session.exec(select(Sender)).one()
    stop.context.backlog.add(sender.sid, 10**9)
    [result] = one_batch(gateway["writer"], [stop])
    assert result.opt_out_type == "STOP" and result.reply_sid is None  # type: ignore[union-attr]
    assert [s.opted_out for s in rows(gateway["engine"], OptOut)] == [True]
    assert [m.direction for m in rows(gateway["engine"], Message)] == ["inbound"]
