"""PROTOTYPE (issue 23, option 2): inbound batches written by a writer process over a pipe.

Only `receive_batch` goes to the child; everything else stays on the thread writer.  For measuring.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
from typing import Any

from sqlmodel import Session

from gateway.errors import GatewayError
from gateway.store.writer import Writer, BatchHandler


def child_main(conn: Any, database_url: str, policies_dir: Any, locales_dir: Any) -> None:
    from gateway.orchestration.core import Core
    from gateway.orchestration.inbound import Arrival, receive_batch
    from gateway.outbox.backlog import Backlog, StickyLoad
    from gateway.policy.watcher import PolicyState
    from gateway.store.db import make_engine, writer_engine

    engine = make_engine(database_url)
    policy = PolicyState(policies_dir, locales_dir)
    policy.reload()
    core = Core(None, Backlog(), StickyLoad(), policy)  # type: ignore[arg-type]
    with Session(engine) as session:
        core.backlog.load(session)
    bind = writer_engine(engine)
    while True:
        first = conn.recv()
        if first is None:
            return
        batch = [first]
        while len(batch) < 512 and conn.poll(0):
            batch.append(conn.recv())
        matcher = policy.matcher
        assert matcher is not None and policy.catalogs is not None
        context = core.context()
        arrivals = [
            Arrival(p, m, matcher.policy, matcher.table, policy.catalogs, context, now, rid)
            for _, p, m, now, rid in batch
        ]
        try:
            with Session(bind, expire_on_commit=False) as session, session.begin():
                results: list[Any] = list(receive_batch(session, arrivals))
        except Exception as exc:  # noqa: BLE001
            results = [exc] * len(batch)
        conn.send([(item[0], result) for item, result in zip(batch, results)])


class ProcWriter(Writer):
    def __init__(self, engine: Any, settings: Any) -> None:
        super().__init__(engine)
        self.settings = settings
        self._keys = itertools.count()
        self._futures: dict[int, asyncio.Future[Any]] = {}
        self._conn: Any = None
        self._proc: Any = None

    def start(self) -> None:
        super().start()
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=child_main,
            args=(child, self.settings.database_url, self.settings.policies_dir, self.settings.locales_dir),
            daemon=True,
        )
        self._proc.start()
        self._conn = parent
        asyncio.get_event_loop().add_reader(parent.fileno(), self._readable)

    def _readable(self) -> None:
        while self._conn.poll():
            for key, result in self._conn.recv():
                future = self._futures.pop(key)
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.send(None)
            self._proc.join(10)
        super().stop()

    async def run_batched(self, handler: BatchHandler[Any, Any], item: Any) -> Any:
        from gateway.orchestration.inbound import receive_batch

        if handler is not receive_batch:
            return await super().run_batched(handler, item)
        key = next(self._keys)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._futures[key] = future
        self._conn.send((key, item.provider, item.message, item.now, item.request_id))
        return await future
