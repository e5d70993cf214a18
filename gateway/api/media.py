"""A message's media: Twilio's Media subresource, and the media check a send may run first.

The media check (a Messaging Service's `MediaCheck`, off by default) asks each MediaUrl's server
for its headers (HEAD) before the send is queued, as Twilio fetches media before it sends: a
Content-Type MMS carries (12300), all items within 5 MB and each but a JPEG, PNG or GIF within
500 KB (11751, as far as the servers state their lengths).  The requests go out as the app
webhooks do, through the callback destination policy (`forwarding.destinations`): an account
cannot make the gateway reach into its own network by naming a media URL there (21620).  They
run together, bounded by one request's deadline; a server that does not answer in time, or not
with a 2xx, fails the send (63019).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx2
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway import media
from gateway.api.common import authenticate, read
from gateway.dates import rfc2822
from gateway.dispatch.submit import SendRequest
from gateway.errors import InvalidMediaUrl, MediaUnreachable, NotFound
from gateway.forwarding.destinations import destinations
from gateway.outbox.payloads import API_VERSION
from gateway.runtime import request_deadline
from gateway.store.messages import account_message
from gateway.store.tables import Message, Service


async def checked(request: Request, send: SendRequest) -> SendRequest:
    """`send` with its media's Content-Types, when its Messaging Service checks media; else as is."""
    if not send.media_urls or send.service_sid is None:
        return send
    service = await read(request, _service, send.service_sid)
    if service is None or service.account_sid != send.account_sid or not service.media_check:
        return send  # an unknown service is refused by the send itself (21701)
    settings = request.app.state.settings
    policy = destinations(settings)
    for url in send.media_urls:
        if (why := policy.check_url(url)) is not None:
            raise InvalidMediaUrl(f"The media URL {url} cannot be fetched: {why}.")
    client: httpx2.AsyncClient = request.app.state.media_client
    try:
        async with asyncio.timeout(request_deadline(settings)):
            answers = await asyncio.gather(*(_head(client, url) for url in send.media_urls))
    except TimeoutError:
        raise MediaUnreachable("The media's servers did not answer a HEAD request in time.") from None
    return dataclasses.replace(send, media_types=media.judge_heads(answers))


async def _head(client: httpx2.AsyncClient, url: str) -> tuple[str, str | None, int | None]:
    try:
        response = await client.head(url)
    except httpx2.HTTPError:
        raise MediaUnreachable(f"The media at {url} could not be fetched.") from None
    if not response.is_success:
        raise MediaUnreachable(f"The media at {url} could not be fetched: HTTP {response.status_code}.")
    length = response.headers.get("content-length", "")
    return url, response.headers.get("content-type"), int(length) if length.isascii() and length.isdigit() else None


def _service(session: Session, sid: str) -> Service | None:
    return session.get(Service, sid)


def media_json(message: Message, index: int, item: media.MediaItem) -> dict[str, Any]:
    sid = media.media_sid(message.sid, index)
    return {
        "account_sid": message.account_sid,
        "content_type": item.content_type,
        "date_created": rfc2822(message.date_created),
        "date_updated": rfc2822(message.date_updated),
        "parent_sid": message.sid,
        "sid": sid,
        "uri": f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}/Media/{sid}.json",
    }


async def listing(request: Request) -> JSONResponse:
    """Every media item of the message, on one page (there are at most ten)."""
    message = await _message(request)
    uri = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}/Media.json"
    items = [media_json(message, i, item) for i, item in enumerate(media.unpack(message.media))]
    return JSONResponse(
        {
            "media_list": items,
            "end": max(0, len(items) - 1),
            "first_page_uri": f"{uri}?PageSize=50&Page=0",
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": None,
            "start": 0,
            "uri": f"{uri}?PageSize=50&Page=0",
        }
    )


async def fetch(request: Request) -> JSONResponse:
    message = await _message(request)
    wanted = request.path_params["media"]
    for index, item in enumerate(media.unpack(message.media)):
        if media.media_sid(message.sid, index) == wanted:
            return JSONResponse(media_json(message, index, item))
    raise NotFound(
        f"The requested resource /{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
        f"/Media/{wanted}.json was not found"
    )


async def _message(request: Request) -> Message:
    account_sid = await authenticate(request)
    sid = request.path_params["sid"]
    message = await read(request, account_message, account_sid, sid)
    if message is None:
        raise NotFound(
            f"The requested resource /{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json was not found"
        )
    return message
