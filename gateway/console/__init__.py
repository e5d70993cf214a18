"""The compliance console: server-rendered pages for compliance staff and operators, under `/console`.

    /console                         overview: 30 days of traffic and consent, errors, STOP rates, health
    /console/numbers?q=…             find a number as typed → /console/numbers/{E164}: consent and history
    /console/numbers/{E164}/consent  POST: opt out or back in, with a reason (audited, source "console")
    /console/tester?text=…&from=…    the policy tester, exact and reasonable mode side by side
    /console/queues                  per sender backlog, rates, drain time; dead letters
    /console/queues/dead-letters/{id}/replay   POST: replay one
    /console/messages                recent messages, filtered → /console/messages/{sid}: its event log

Jinja2 templates and one stylesheet, no script and no build step.  `web.py` holds what every page
shares (sign-in, CSRF, language, headers, and `Page.read`, the pages' only way to the database, off
the event loop), `figures.py` and `charts.py` the pure parts of the overview.  The statements are
the store's (`store.messages`, `store.traffic`, `store.senders`, `store.optouts`, `store.queue_stats`).
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route

from gateway.console import messages, numbers, overview, queues, tester
from gateway.console.web import Page, page

STYLESHEET = (Path(__file__).parent / "static" / "console.css").read_bytes()  # read once, served from memory


async def _stylesheet(current: Page) -> Response:
    return Response(STYLESHEET, media_type="text/css; charset=utf-8")


async def _to_overview(current: Page) -> Response:
    """`/console` without its slash: signed in first, so that no URL of the console answers before
    the 401 that makes the browser ask (a plain trailing-slash redirect would)."""
    query = current.request.url.query
    return RedirectResponse("/console/" + (f"?{query}" if query else ""), status_code=307)


def routes() -> list[Route | Mount]:
    """The console's routes: `/console` and everything under it."""
    return [
        Route("/console", page(_to_overview), methods=["GET"]),
        Mount(
            "/console",
            routes=[
                Route("/", page(overview.show), methods=["GET"]),
                Route("/console.css", page(_stylesheet), methods=["GET"]),
                Route("/numbers", page(numbers.search), methods=["GET"]),
                Route("/numbers/{number}", page(numbers.show), methods=["GET"]),
                Route("/numbers/{number}/consent", page(numbers.change), methods=["POST"]),
                Route("/tester", page(tester.show), methods=["GET"]),
                Route("/queues", page(queues.show), methods=["GET"]),
                Route("/queues/dead-letters/{id}/replay", page(queues.replay_one), methods=["POST"]),
                Route("/messages", page(messages.listing), methods=["GET"]),
                Route("/messages/{sid}", page(messages.detail), methods=["GET"]),
            ],
        ),
    ]
