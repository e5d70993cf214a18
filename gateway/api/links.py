"""The short links' redirect: `GET /l/{code}` (and HEAD) answers 302 to the app's link.

Every tap on a short link lands here, so the path is kept short: the link is read once per
process (`Targets`, a bounded cache; a link never changes once sent, and its expiry is checked
on each request), the click is handed to the writer without waiting for it
(`orchestration.clicks`), and the answer goes out.  An expired link goes to its service's
LinkFallbackUrl (Twilio's warning 30104), read afresh since a service may change it; without
one, and for a code no send made, the answer is 404 (30105 and 20404).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import NamedTuple

from starlette.requests import Request
from starlette.responses import RedirectResponse

from gateway.api.common import read
from gateway.errors import NotFound
from gateway.links import is_code
from gateway.orchestration.clicks import Click, Clicks
from gateway.store import links as link_rows

#: Short links a process keeps in memory: each entry is a few hundred bytes.
CACHED = 100_000
_NO_FALLBACK = 30105  # Twilio's "Shortened link not found and no fallback URL found"


class Target(NamedTuple):
    url: str
    expires_at: datetime


class Targets:
    """Where codes lead, newest-used kept (least recently used dropped beyond `size`)."""

    def __init__(self, size: int = CACHED) -> None:
        self.size = size
        self._found: OrderedDict[str, Target] = OrderedDict()

    def get(self, code: str) -> Target | None:
        found = self._found.get(code)
        if found is not None:
            self._found.move_to_end(code)
        return found

    def put(self, code: str, target: Target) -> None:
        self._found[code] = target
        if len(self._found) > self.size:
            self._found.popitem(last=False)


async def redirect(request: Request) -> RedirectResponse:
    code = request.path_params["code"]
    if not is_code(code):
        raise NotFound(f"The requested resource /l/{code} was not found")
    targets: Targets = request.app.state.link_targets
    target = targets.get(code)
    if target is None:
        row = await read(request, link_rows.target, code)
        if row is None:
            raise NotFound(f"The requested resource /l/{code} was not found")
        target = Target(row.url, row.expires_at)
        targets.put(code, target)
    now = request.app.state.clock.now()
    if now >= target.expires_at:
        row = await read(request, link_rows.target, code)
        if row is None or not row.link_fallback_url:
            raise NotFound("The short link expired and its Messaging Service has no LinkFallbackUrl", code=_NO_FALLBACK)
        return RedirectResponse(row.link_fallback_url, status_code=302)
    clicks: Clicks = request.app.state.clicks
    clicks.record(Click(code, request.method, request.headers.get("user-agent"), now))
    return RedirectResponse(target.url, status_code=302)
