"""SMSCs for the SMPP tests: smpp34's own server (an SMPP implementation no one here wrote), run on
its own event loop in a thread, and a TCP proxy in front of it that can cut every connection (the
scripted stand-in for a dropped bind)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import smpp34

from tests.flows.server import free_port

T = TypeVar("T")
SYSTEM_ID, PASSWORD = "acme-esme", "s3cret"


@dataclass
class Submitted:
    """One submit_sm as the SMSC took it, and the message_id it answered."""

    destination_addr: str
    source_addr: str
    source_addr_ton: int
    source_addr_npi: int
    data_coding: int
    esm_class: int
    registered_delivery: int
    short_message: bytes
    tlvs: dict[int, bytes]
    message_id: str
    at: float  # monotonic time it arrived


@dataclass
class Smsc:
    port: int
    loop: asyncio.AbstractEventLoop
    submitted: list[Submitted] = field(default_factory=list)
    sessions: dict[str, smpp34.Esme] = field(default_factory=dict)
    binds: list[tuple[str, str]] = field(default_factory=list)  # (system_id, session id) of each bind
    refuse: dict[str, int] = field(default_factory=dict)  # destination → command_status to answer
    throttle: int = 0  # submit_sm answered ESME_RTHROTTLED before any is taken
    throttled: int = 0
    receipts: bool = True  # answer each receipt-requesting submit with a DELIVRD receipt
    unanswered: list[asyncio.Future[Any]] = field(default_factory=list)  # deliver_sm to a receiver bind

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def deliver(self, source: str, destination: str, short_message: bytes, **fields: Any) -> None:
        """Push a deliver_sm to the bound ESME (a person's message, or a receipt)."""

        async def push() -> None:
            await self.push(SYSTEM_ID, destination, short_message, source_addr=source, **fields)

        self.run(push())

    async def push(self, system_id: str, destination: str, short_message: bytes, **fields: Any) -> None:
        """A deliver_sm over the session of `system_id` that receives: the transceiver, whose answer
        must be success, or the receiver of a pair, whose answer is not awaited: smpp34's server
        reads deliver_sm_resp only on transmitter and transceiver binds (src/server/state.rs), so
        a receiver's never resolves there, though the ESME got the deliver_sm and answered it."""
        receiving = [e for e in self.sessions.values() if e.system_id == system_id and e.can_receive][-1]
        pair = any(e.system_id == system_id and not e.can_receive for e in self.sessions.values())
        sent = receiving.deliver_sm(destination, short_message, **fields)
        if pair:
            self.unanswered.append(asyncio.ensure_future(sent))
            return
        assert (await sent).is_success

    def to(self, destination: str) -> list[Submitted]:
        return [s for s in self.submitted if s.destination_addr == destination]


async def _serve(server: smpp34.Server, smsc: Smsc) -> None:
    while True:
        event = await server.next()
        if isinstance(event, smpp34.Esme):
            smsc.sessions[event.session_id] = event
            smsc.binds.append((event.system_id, event.session_id))
        elif isinstance(event, smpp34.Unbound):
            smsc.sessions.pop(event.session_id, None)
        elif isinstance(event, smpp34.SubmitSmEvent):
            if smsc.throttle:
                smsc.throttle -= 1
                smsc.throttled += 1
                event.reject(smpp34.ESME_RTHROTTLED)  # type: ignore[attr-defined]
                continue
            if event.destination_addr in smsc.refuse:
                event.reject(smsc.refuse[event.destination_addr])
                continue
            message_id = f"smsc-{len(smsc.submitted) + 1}"
            smsc.submitted.append(
                Submitted(
                    event.destination_addr,
                    event.source_addr,
                    event.source_addr_ton,
                    event.source_addr_npi,
                    event.data_coding,
                    event.esm_class,
                    event.registered_delivery,
                    event.short_message,
                    {tlv.tag: tlv.value for tlv in event.tlvs},
                    message_id,
                    time.monotonic(),
                )
            )
            event.accept(message_id)
            if smsc.receipts and event.registered_delivery:
                await smsc.push(
                    smsc.sessions[event.session_id].system_id,
                    event.source_addr,
                    f"id:{message_id} sub:001 dlvrd:001 submit date:2612011726 done date:2612011726 "
                    "stat:DELIVRD err:000 text:".encode(),
                    source_addr=event.destination_addr,
                    esm_class=0x04,
                )


@contextlib.contextmanager
def smsc() -> Iterator[Smsc]:
    """smpp34's SMSC on 127.0.0.1, accepting any bind, until the block ends."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    port = free_port()
    state = Smsc(port, loop)

    async def start() -> tuple[smpp34.Server, asyncio.Task[None]]:
        server = smpp34.Server("127.0.0.1", port, system_id="TESTSMSC")
        await server.start()
        return server, asyncio.create_task(_serve(server, state))

    server, task = state.run(start())
    try:
        yield state
    finally:

        async def stop() -> None:
            for pending in [task, *state.unanswered]:
                pending.cancel()
            await asyncio.gather(task, *state.unanswered, return_exceptions=True)
            await server.stop()

        state.run(stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


@dataclass
class Proxy:
    """A TCP relay in front of the SMSC whose `cut()` drops every connection, as a network does."""

    port: int
    loop: asyncio.AbstractEventLoop
    writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def cut(self) -> None:
        async def close() -> None:
            for writer in list(self.writers):
                writer.transport.abort()
            self.writers.clear()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)


@contextlib.contextmanager
def proxy(target: int) -> Iterator[Proxy]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    state = Proxy(free_port(), loop)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target)
        state.writers |= {writer, upstream_writer}
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    server = asyncio.run_coroutine_threadsafe(asyncio.start_server(relay, "127.0.0.1", state.port), loop).result(5)
    try:
        yield state
    finally:
        state.cut()

        async def close() -> None:
            server.close()

        asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
