"""Batch semantics of the send path: sends handed to the writer together are one `send_batch`."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event
from sqlmodel import Session, select

from gateway.compliance.optouts import Consent
from gateway.dispatch.directory import Directory
from gateway.dispatch.submit import SendRequest, SubmitContext
from gateway.errors import RecipientUnsubscribed
from gateway.orchestration.consent import record_consent
from gateway.orchestration.core import send_batch
from gateway.outbox.backlog import Backlog, StickyLoad
from gateway.store.db import unit_of_work, utcnow
from gateway.store.tables import Message, Service, StickyMapping
from tests.conftest import DE_MOBILE, FR_MOBILE, US_MOBILE
from tests.store.test_inbound_batch import gateway  # noqa: F401  (the fixture)


def sends(writer, requests: list[SendRequest]) -> list[Any]:  # type: ignore[no-untyped-def]
    context = SubmitContext(Backlog(), StickyLoad(), Directory(), lambda country: True)

    async def run() -> list[Any]:
        tasks = [asyncio.ensure_future(writer.run_batched(send_batch, (r, context, utcnow()))) for r in requests]
        await asyncio.sleep(0)  # all in the writer's queue before it starts: one batch
        writer.start()
        return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(run())


def test_a_send_refused_with_21610_leaves_the_others_of_its_batch_committed(gateway):  # noqa: F811
    engine, account = gateway["engine"], gateway["account"]
    with unit_of_work(engine) as session:
        service = session.exec(select(Service)).one()
        record_consent(
            session,
            Consent(account, service.sid, FR_MOBILE, "sms", True, "api", reason="asked"),
            now=utcnow(),
            backlog=Backlog(),
        )
    requests = [
        SendRequest(account_sid=account, to=to, body="Your table is ready", service_sid=service.sid)
        for to in (US_MOBILE, FR_MOBILE, DE_MOBILE)
    ]
    results = sends(gateway["writer"], requests)
    assert isinstance(results[1], RecipientUnsubscribed) and results[1].code == 21610
    with Session(engine) as session:
        assert sorted(m.to for m in session.exec(select(Message)).all()) == sorted([US_MOBILE, DE_MOBILE])


def test_two_sends_to_one_new_recipient_in_one_batch_share_one_sticky_mapping(gateway):  # noqa: F811
    engine, account = gateway["engine"], gateway["account"]
    with Session(engine) as session:
        service = session.exec(select(Service)).one()
    results = sends(
        gateway["writer"],
        [
            SendRequest(account_sid=account, to=US_MOBILE, body=f"Reminder {i}", service_sid=service.sid)
            for i in range(2)
        ],
    )
    assert len({r.sender for r in results}) == 1
    with Session(engine) as session:
        assert len(session.exec(select(StickyMapping)).all()) == 1


def test_a_batchs_new_sticky_mappings_are_written_with_one_statement(gateway):  # noqa: F811
    engine, account = gateway["engine"], gateway["account"]
    with Session(engine) as session:
        service = session.exec(select(Service)).one()
    people = [f"+1201555{1000 + i}" for i in range(10)]
    inserts: list[str] = []

    def note(conn, cursor, statement: str, *args: object) -> None:  # type: ignore[no-untyped-def]
        if "INTO sticky_mapping" in statement:
            inserts.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        sends(
            gateway["writer"],
            [SendRequest(account_sid=account, to=to, body="Reminder", service_sid=service.sid) for to in people],
        )
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert len(inserts) == 1
    with Session(engine) as session:
        assert sorted(m.recipient for m in session.exec(select(StickyMapping)).all()) == people
