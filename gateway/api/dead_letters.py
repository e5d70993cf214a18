"""`/v1/DeadLetters`: app deliveries that gave up after their retries, and their replay."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.api.common import authenticate, base_url, int_or_none, page_size, read, read_form
from gateway.errors import NotFound
from gateway.forwarding.dead_letters import dead_letter_json, list_dead, replay


async def listing(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    form = await read_form(request)
    size = page_size(form)
    rows = await read(request, list_dead, account_sid, after=int_or_none(form.get("After")), limit=size + 1)
    more, rows = len(rows) > size, rows[:size]
    base = f"{base_url(request)}/v1/DeadLetters"
    next_url = f"{base}?PageSize={size}&After={rows[-1].id}" if more and rows else None
    return JSONResponse(
        {
            "dead_letters": [dead_letter_json(d) for d in rows],
            "meta": {"page_size": size, "url": base, "next_page_url": next_url, "key": "dead_letters"},
        }
    )


async def replay_one(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    raw = request.path_params["id"]
    number = int_or_none(raw)
    ids = [number] if number is not None else []
    count = await request.app.state.writer.run(lambda session: replay(session, account_sid, ids))
    if not count:
        raise NotFound(f"No dead letter {raw} in this account.")
    if request.app.state.forwarder is not None:
        request.app.state.forwarder.notify()
    return JSONResponse({"replayed": count})


async def replay_all(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    await read_form(request)
    count = await request.app.state.writer.run(lambda session: replay(session, account_sid, None))
    if request.app.state.forwarder is not None:
        request.app.state.forwarder.notify()
    return JSONResponse({"replayed": count})
