"""The one way tests wait for something another thread or process does: poll until it holds.

A test that waits passes as soon as the event happens and fails, saying what it waited for, when
the deadline passes; it never sleeps a fixed time and hopes. To check that something did *not*
happen, wait first for a positive event that must come after it (the next message on the same
path, a drain), then assert.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, message: str | Callable[[], object] = ""
) -> T:
    """Return `predicate()`'s first truthy value, calling it every `interval` seconds; after
    `timeout` seconds fail with an AssertionError carrying `message` (called if callable, so it can
    show what did arrive)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = message() if callable(message) else message
            raise AssertionError(f"not met within {timeout}s: {detail or predicate}")
        time.sleep(interval)
