"""Provider webhooks: signature first, then parse, then one transaction, then 200.

Status reports find their message by the `ref` query parameter the gateway put
on the callback URL (its own sid; a report can arrive before the send's answer
recorded the provider's id), else by the provider's message id.
"""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from gateway.dispatch.backlog import Backlog
from gateway.dispatch.outbox import find_by_provider_sid, set_status
from gateway.errors import NotFound
from gateway.providers import PROVIDERS
from gateway.providers.base import RawRequest, Status, StatusEvent, WebhookRejected, parse_form
from gateway.store.db import utcnow

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


async def raw_request(request: Request) -> RawRequest:
    """The request as the provider sent it, on the public URL the provider called."""
    body = await request.body()
    public = request.app.state.settings.public_url
    url = f"{public}{request.url.path}" if public else f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    if request.url.query:
        url += f"?{request.url.query}"
    return RawRequest(url, {k.lower(): v for k, v in request.headers.items()}, body, parse_form(body))


async def status(request: Request) -> Response:
    name = request.path_params["provider"]
    provider = PROVIDERS.get(name)
    if provider is None:
        raise NotFound(f"No provider named {name!r}.")
    raw = await raw_request(request)
    try:
        provider.verify(raw, request.app.state.provider_secrets.get(name, ""))
        events = provider.parse_status(raw)
    except WebhookRejected as exc:
        return Response(str(exc), status_code=403, media_type="text/plain")
    reference = request.query_params.get("ref")
    backlog: Backlog = request.app.state.core.backlog
    await request.app.state.writer.run(lambda session: _apply(session, events, reference, backlog))
    request.app.state.forwarder.notify()
    return Response(EMPTY_TWIML, media_type="text/xml")


def _apply(session: Session, events: list[StatusEvent], reference: str | None, backlog: Backlog) -> None:
    now = utcnow()
    for event in events:
        sid = reference or find_by_provider_sid(session, event.provider_sid)
        if sid is None or event.status is Status.UNKNOWN:
            continue  # not ours, or a word we do not know: logged by the adapter, never a crash
        set_status(session, sid, event.status, now=now, source="provider", backlog=backlog,
                   error_code=event.error_code, provider_sid=event.provider_sid)
