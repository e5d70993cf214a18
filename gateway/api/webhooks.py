"""Provider webhooks: signature first, then parse, then one transaction, then 200.

Status reports find their message by the `ref` query parameter the gateway put
on the callback URL (its own sid; a report can arrive before the send's answer
recorded the provider's id), else by the provider's message id.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.common import CONTROL, MAX_FIELD, read_body
from gateway.errors import BadRequest, Forbidden, NotFound
from gateway.orchestration.arrivals import Arrivals
from gateway.providers.base import (
    InboundMessage,
    MalformedWebhook,
    Provider,
    RawRequest,
    StatusEvent,
    WebhookRejected,
    parse_form,
)

log = logging.getLogger("gateway.webhooks")
T = TypeVar("T", InboundMessage, StatusEvent)  # what a webhook parses to

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
MAX_ADDRESS = 64  # the longest number, short code, alpha sender or message id a column holds


async def raw_request(request: Request, limit: int) -> tuple[RawRequest, bool]:
    """The request as the provider sent it, on the public URL the provider called; at most `limit`
    bytes.  With it, whether its text is UTF-8 (refused only once its signature holds: 403 before 400)."""
    body = await read_body(request, limit, f"Webhook bodies are limited to {limit} bytes (GATEWAY_WEBHOOK_MAX_BYTES).")
    public = request.app.state.settings.public_url
    url = f"{public}{request.url.path}" if public else f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    if request.url.query:
        url += f"?{request.url.query}"
    # A GET webhook (Vonage may use one) carries its fields in the query string; a JSON body
    # (Telnyx) parses to no useful fields and its adapter reads `body` instead.
    if request.method == "GET":
        form, utf8 = _form(request.url.query.encode())
    else:
        form, utf8 = _form(body)
        if "json" in request.headers.get("content-type", ""):  # its parser checks what escapes would mean
            utf8 = _is_utf8(body)
        if utf8 and request.url.query:
            utf8 = _form(request.url.query.encode())[1]
    return RawRequest(url, {k.lower(): v for k, v in request.headers.items()}, body, form), utf8


def _form(data: bytes) -> tuple[tuple[tuple[str, str], ...], bool]:
    """`parse_form(data)`, and whether its bytes, raw or percent-escaped, are all UTF-8: one parse
    in the usual case, a second (with U+FFFD for what is not UTF-8) only for a malformed one."""
    try:
        return tuple(parse_qsl(data.decode("utf-8"), keep_blank_values=True, errors="strict")), True
    except UnicodeDecodeError:
        return parse_form(data), False


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _verified(request: Request, parse: Callable[[Provider, RawRequest], list[T]]) -> list[T]:
    """The webhook's items, once its size, the provider's secret, its signature and its shape hold.

    Refusals raise before anything is stored: 413 too large, 403 no secret or a bad signature,
    400 signed but malformed."""
    name = request.path_params["provider"]
    provider = request.app.state.providers.get(name)
    if provider is None:
        raise NotFound(f"No provider named {name!r}.")
    settings = request.app.state.settings
    raw, utf8 = await raw_request(request, settings.webhook_max_bytes)
    secret = request.app.state.provider_secrets.get(name)
    if not secret:
        log.warning("%s webhook refused: no secret configured (%s)", name, settings.missing_secrets().get(name))
        raise Forbidden(
            f"Webhooks of provider {name!r} are refused: the gateway has no secret to check them with.", code=20003
        )
    try:
        provider.verify(raw, secret)
    except WebhookRejected as exc:
        log.warning("%s webhook refused: %s", name, exc)
        raise Forbidden(f"Webhook refused: {exc}.", code=20003) from None
    try:
        if not utf8:  # stored, it would read as U+FFFD
            raise MalformedWebhook("not UTF-8")
        items = parse(provider, raw)
        for item in items:
            _check_fields(item)
    except MalformedWebhook as exc:
        log.warning("%s webhook malformed: %s", name, exc)
        raise BadRequest(f"Malformed {name} webhook: {exc}.") from None
    return items


def _check_fields(item: InboundMessage | StatusEvent) -> None:
    """What no person's message carries: a control character (NUL cannot even be stored in PostgreSQL),
    an address or id longer than any (64), a text longer than MAX_FIELD."""
    fields = {"MessageSid": item.provider_sid}
    if isinstance(item, InboundMessage):
        fields |= {"From": item.sender, "To": item.to, "Body": item.body}
    for name, value in fields.items():
        if CONTROL.search(value):
            raise MalformedWebhook(f"{name} contains a control character")
        if len(value) > (MAX_FIELD if name == "Body" else MAX_ADDRESS):
            raise MalformedWebhook(f"{name} is too long")


async def inbound(request: Request) -> Response:
    """A person's message: verified, recorded with all its effects, then answered with empty TwiML.

    Parts of a long message (Vonage) are stored and answered at once; the part that completes
    its message hands on the joined message (gateway/providers/reassembly.py)."""
    messages = await _verified(request, lambda provider, raw: provider.parse_inbound(raw))
    arrivals: Arrivals = request.app.state.arrivals
    await arrivals.accept(request.path_params["provider"], messages)
    return Response(EMPTY_TWIML, media_type="text/xml")


async def status(request: Request) -> Response:
    """A provider's delivery report: applied if it moves the message forward, logged either way."""
    events = await _verified(request, lambda provider, raw: provider.parse_status(raw))
    arrivals: Arrivals = request.app.state.arrivals
    await arrivals.report(request.path_params["provider"], events, request.query_params.get("ref"))
    return Response(EMPTY_TWIML, media_type="text/xml")
