"""Per-service geo permissions and sticky-sender mappings.

Geo permissions: every country is allowed until the service lists some
(`Countries`, repeated or comma-separated; empty allows all again).  Sticky
mappings can be read, reset (deleted) and pinned to a chosen sender; a pinned
mapping is never moved by routing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.common import authenticate, base_url, country_codes, read, read_form, v1_page, write_change
from gateway.api.services import owned_service
from gateway.dates import iso8601, utcnow
from gateway.errors import BadRequest, NotFound
from gateway.store import senders
from gateway.store.tables import Sender, Service, StickyMapping


def _geo_json(service: Service) -> dict[str, Any]:
    allowed = sorted(service.allowed_countries.split(",")) if service.allowed_countries else None
    return {"service_sid": service.sid, "allowed_countries": allowed}


async def geo_fetch(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    return JSONResponse(_geo_json(await read(request, owned_service, account_sid, request.path_params["sid"])))


async def geo_update(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    form = await read_form(request)
    codes = country_codes(form, "Countries")

    def job(session: Session) -> Service:
        service = owned_service(session, account_sid, request.path_params["sid"])
        service.allowed_countries = ",".join(codes) or None
        service.date_updated = utcnow()
        session.add(service)
        return service

    return JSONResponse(_geo_json(await write_change(request, job)))


def _sticky_json(mapping: StickyMapping, sender: Sender | None) -> dict[str, Any]:
    return {
        "service_sid": mapping.service_sid,
        "to": mapping.recipient,
        "sender_sid": mapping.sender_sid,
        "sender": sender.address if sender else None,
        "pinned": mapping.pinned,
        "date_updated": iso8601(mapping.date_updated),
    }


async def sticky_list(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    service_sid = request.path_params["sid"]
    to = request.query_params.get("To")

    def mappings(session: Session) -> list[tuple[StickyMapping, Sender]]:
        owned_service(session, account_sid, service_sid)
        return senders.sticky_mappings(session, service_sid, to)

    rows = await read(request, mappings)
    base = base_url(request)
    return JSONResponse(
        v1_page(
            "sticky_senders", [_sticky_json(m, s) for m, s in rows], f"{base}/v1/Services/{service_sid}/StickySenders"
        )
    )


async def sticky_fetch(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    service_sid, to = request.path_params["sid"], unquote(request.path_params["to"])

    def mapping(session: Session) -> tuple[StickyMapping, Sender | None]:
        owned_service(session, account_sid, service_sid)
        found = session.get(StickyMapping, (service_sid, to))
        if found is None:
            raise NotFound(f"No sticky sender for {to} in {service_sid}.")
        return found, session.get(Sender, found.sender_sid)

    return JSONResponse(_sticky_json(*await read(request, mapping)))


async def sticky_pin(request: Request) -> JSONResponse:
    """Pin `To` to `Sender` (a pool member's address or sid): routing will not move it."""
    account_sid = await authenticate(request)
    form = await read_form(request)
    service_sid, to = request.path_params["sid"], unquote(request.path_params["to"])
    wanted = form.get("Sender") or ""

    def job(session: Session) -> tuple[StickyMapping, Sender]:
        owned_service(session, account_sid, service_sid)
        sender = senders.pool_member(session, service_sid, wanted)
        if sender is None:
            raise BadRequest(f"Sender {wanted!r} is not in the pool of {service_sid}.")
        mapping = session.get(StickyMapping, (service_sid, to)) or StickyMapping(
            service_sid=service_sid, recipient=to, sender_sid=sender.sid, date_updated=utcnow()
        )
        mapping.sender_sid, mapping.pinned, mapping.date_updated = sender.sid, True, utcnow()
        session.add(mapping)
        return mapping, sender

    mapping, sender = await write_change(request, job)
    return JSONResponse(_sticky_json(mapping, sender))


async def sticky_reset(request: Request) -> Response:
    account_sid = await authenticate(request)
    service_sid, to = request.path_params["sid"], unquote(request.path_params["to"])

    def job(session: Session) -> None:
        owned_service(session, account_sid, service_sid)
        senders.forget_sticky(session, service_sid=service_sid, recipient=to)

    await write_change(request, job)
    return Response(status_code=204)
