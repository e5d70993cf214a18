"""Waiting for an asyncio event with a time limit, without losing a cancellation.

Python 3.11's `asyncio.wait_for` drops a cancellation that arrives just as the awaited event
fires (cpython gh-86296, fixed in 3.12 by rebuilding `wait_for` on `asyncio.timeout`).  A
worker loop that loses its cancellation never stops, and the shutdown that awaits it hangs:
a test suite's app teardown did, once in a few thousand shutdowns.  `asyncio.timeout` keeps
the cancellation."""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Whether `event` was set within `timeout` seconds (at once if it already is)."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
