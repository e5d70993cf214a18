"""Status writes: a pacer round's `sent` outcomes as one set against one write per message.

    .venv/bin/python -m bench.status_sets [--messages 100] [--rounds 20]

Each round queues `--messages` messages (with a status callback, as most apps set one) and
records their `sent` outcomes in one transaction, alternating between one `set_statuses` call for
all of them (what the dispatcher's batched outcomes do) and one `set_status` call per message
(what it did before: a read, an event, an update and a callback each), on SQLite and on a
throwaway PostgreSQL.  Prints the median milliseconds per round of each and their ratio: the
statement count, not the machine, is what the ratio shows, so it holds on a busy machine better
than the end-to-end figures of `bench/scaleout.py` do.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.engine import Engine

from bench.harness import temp_dir
from gateway.dispatch.directory import Directory
from gateway.dispatch.submit import SendRequest, SubmitContext
from gateway.lifecycle import Status
from gateway.orchestration.core import send_batch
from gateway.outbox.backlog import Backlog, StickyLoad
from gateway.outbox.messages import Change, set_status, set_statuses
from gateway.store.db import make_engine, migrate, unit_of_work, utcnow, writer_engine
from gateway.store.tables import Message, core_table
from tests.postgres import binaries, new_database, postgres_server
from tests.store.seed import account_with_service

_M = core_table(Message)


def setup(url: str) -> tuple[Engine, str, str]:
    migrate(url)
    engine = make_engine(url)
    account, service = account_with_service(engine, "bench", mps=10000)
    return engine, account, service


def queue(engine: Engine, account: str, service: str, count: int) -> list[str]:
    """`count` messages accepted through the send path and marked `sending`, as a pacer's claim does."""
    context = SubmitContext(Backlog(), StickyLoad(), Directory(), lambda country: True)
    requests = [
        SendRequest(
            account_sid=account,
            to=f"+1201555{1000 + i:04d}",
            body="Your table is ready",
            service_sid=service,
            status_callback="http://127.0.0.1:9/status",
        )
        for i in range(count)
    ]
    with unit_of_work(engine) as session:
        messages = [m for m in send_batch(session, [(r, context, utcnow()) for r in requests])]
        sids = [m.sid for m in messages if isinstance(m, Message)]
        session.connection().execute(update(_M).where(_M.c.sid.in_(sids)).values(status=Status.SENDING.value))
    return sids


def one_set(engine: Engine, sids: list[str]) -> None:
    with unit_of_work(writer_engine(engine)) as session:
        changes = [Change(sid, Status.SENT, "dispatch", provider_sid="SM" + sid[2:]) for sid in sids]
        set_statuses(session, changes, now=utcnow(), backlog=Backlog())


def one_by_one(engine: Engine, sids: list[str]) -> None:
    with unit_of_work(writer_engine(engine)) as session:
        for sid in sids:
            set_status(
                session,
                sid,
                Status.SENT,
                now=utcnow(),
                source="dispatch",
                backlog=Backlog(),
                provider_sid="SM" + sid[2:],
            )


def measure(label: str, url: str, messages: int, rounds: int) -> None:
    engine, account, service = setup(url)
    timings: dict[str, list[float]] = {"one set": [], "one by one": []}
    ways: dict[str, Callable[[Engine, list[str]], None]] = {"one set": one_set, "one by one": one_by_one}
    for index in range(rounds):
        order = list(ways) if index % 2 == 0 else list(reversed(ways))
        for name in order:
            sids = queue(engine, account, service, messages)
            started = time.perf_counter()
            ways[name](engine, sids)
            timings[name].append((time.perf_counter() - started) * 1000)
    engine.dispose()
    together, apart = statistics.median(timings["one set"]), statistics.median(timings["one by one"])
    print(
        f"{label}: {messages} sent outcomes: one set {together:.1f} ms, one by one {apart:.1f} ms, "
        f"one by one / one set {apart / together:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    measure("SQLite", f"sqlite:///{temp_dir() / 'bench.db'}", args.messages, args.rounds)
    if binaries() is None:
        print("PostgreSQL server binaries not found: apt-get install postgresql")
        return
    with postgres_server() as server:
        measure("PostgreSQL", new_database(server), args.messages, args.rounds)


if __name__ == "__main__":
    main()
