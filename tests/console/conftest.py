"""The console's fixtures: the whole gateway under uvicorn (the flows' `stack`), a service with a
number, and helpers to sign in and to find what a page shows."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from tests.flows import conftest as flows
from tests.flows import test_inbound
from tests.flows.conftest import Stack
from tests.flows.test_inbound import inbound
from tests.poll import wait_until

stack = flows.stack  # the whole gateway under uvicorn, shared with the flows
service = test_inbound.service  # "Acme Dental" with US_SENDER in its pool


def console(stack: Stack, path: str = "/console/", *, auth: tuple[str, str] | None = None, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
    """GET a console page signed in as the stack's account (or as `auth`)."""
    return httpx.get(f"{stack.url}{path}", auth=auth or (stack.account_sid, stack.auth_token), **kwargs)


def post(
    stack: Stack, path: str, data: dict[str, str], *, auth: tuple[str, str] | None = None, **kwargs
) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{stack.url}{path}", data=data, auth=auth or (stack.account_sid, stack.auth_token), **kwargs)


def csrf(page: httpx.Response) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def text(page: httpx.Response) -> str:
    """The page's visible text, tags removed and whitespace collapsed, for `in` checks."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


@pytest.fixture
def stop(stack, service):  # type: ignore[no-untyped-def]
    """Post a signed inbound message and wait until the gateway forwarded it (so it is all written)."""

    def send(person: str, body: str) -> None:
        before = len([r for r in stack.app.received if r.path == "/inbound"])
        assert inbound(stack, person, body).status_code == 200
        wait_until(lambda: len([r for r in stack.app.received if r.path == "/inbound"]) > before)

    return send
