"""A worker's timed wait for its wake-up event never swallows the cancellation that stops it."""

from __future__ import annotations

import asyncio

from gateway.waiting import wait_event


async def _worker_loop(event: asyncio.Event) -> None:
    while True:  # as the dispatch keeper and the forwarder loop: wait, work, wait again
        await wait_event(event, timeout=10)
        event.clear()


async def _cancelled_as_the_event_fires() -> tuple[bool, bool]:
    """(ended, cancelled) a second after the cancellation; read here, since asyncio.run cancels leftovers."""
    event = asyncio.Event()
    worker = asyncio.create_task(_worker_loop(event))
    await asyncio.sleep(0)  # the worker waits
    event.set()
    await asyncio.sleep(0)  # the event's waiter completes; the worker is due to resume
    worker.cancel()
    await asyncio.wait({worker}, timeout=1)
    return worker.done(), worker.done() and worker.cancelled()


def test_a_cancellation_arriving_as_the_event_fires_stops_the_loop():
    ended, cancelled = asyncio.run(_cancelled_as_the_event_fires())
    assert ended, "the worker lost its cancellation and kept looping"
    assert cancelled


def test_the_wait_answers_whether_the_event_came():
    async def both() -> tuple[bool, bool]:
        event = asyncio.Event()
        missed = await wait_event(event, timeout=0.01)
        event.set()
        return missed, await wait_event(event, timeout=0.01)

    assert asyncio.run(both()) == (False, True)
