"""The sender registry: Twilio's IncomingPhoneNumbers resource (2010-04-01).

Besides Twilio's fields it takes `Provider` (which provider sends for the
number) and `Mps` (its throughput, segments per second; Twilio's default for
its type when omitted).
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from sqlalchemy import delete, select
from sqlmodel import Session, col
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.common import Form, app_url, authenticate, owned, read_form, write_change
from gateway.compliance.gates import E164
from gateway.dates import rfc2822
from gateway.errors import AlreadyRegistered, BadRequest
from gateway.ids import new_sid
from gateway.outbox.payloads import API_VERSION
from gateway.providers import PROVIDERS
from gateway.routing import SenderKind
from gateway.senders import classify_number, mps_for
from gateway.settings import Settings
from gateway.store.db import utcnow
from gateway.store.tables import Sender, StickyMapping


def number_json(sender: Sender) -> dict[str, Any]:
    return {
        "sid": sender.sid,
        "account_sid": sender.account_sid,
        "friendly_name": sender.address,
        "phone_number": sender.address,
        "capabilities": {"sms": True, "mms": sender.kind != "alpha", "voice": False, "fax": False},
        "sms_url": sender.sms_url,
        "sms_method": "POST",
        "status": "in-use",
        "iso_country": sender.country,
        "type": sender.kind,
        "provider": sender.provider,
        "mps": sender.mps,
        "messaging_service_sid": sender.service_sid,
        "api_version": API_VERSION,
        "date_created": rfc2822(sender.date_created),
        "date_updated": rfc2822(sender.date_updated),
        "uri": f"/{API_VERSION}/Accounts/{sender.account_sid}/IncomingPhoneNumbers/{sender.sid}.json",
    }


async def create(request: Request) -> JSONResponse:
    account_sid = authenticate(request)
    form = await read_form(request)
    address = form.get("PhoneNumber") or ""
    raw = address.removeprefix("whatsapp:")
    try:
        # E.164 as written: phonenumbers alone reads "+1 (202) 555-CALL", which would register a
        # second spelling of a number another account owns, and one no webhook's `To` ever matches
        valid = bool(E164.fullmatch(raw)) and phonenumbers.is_valid_number(phonenumbers.parse(raw, None))
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        raise BadRequest(f"PhoneNumber {address!r} is not a valid E.164 number (or whatsapp:+E164).", code=21421)
    provider = provider_of(form, request.app.state.settings)
    kind, country = classify_number(address)
    now = utcnow()
    sender = Sender(sid=new_sid("PN"), account_sid=account_sid, address=address, kind=kind.value, country=country,
                    provider=provider, mps=mps_for(kind, country, form.integer("Mps", 1, 10000)),
                    sms_url=app_url(form, "SmsUrl", request.app.state.settings), date_created=now, date_updated=now)
    await write_change(request, lambda session: add_sender(session, sender))
    return JSONResponse(number_json(sender), status_code=201)


def provider_of(form: Form, settings: Settings) -> str:
    """The form's `Provider`, or the deployment's default, if this gateway can both send with it and
    verify its webhooks: a sender of any other provider could only fail its messages and lose
    its replies and opt-outs."""
    provider = form.get("Provider") or settings.provider_default
    if provider not in PROVIDERS:
        raise BadRequest(f"Provider must be one of {', '.join(PROVIDERS)}, not {provider!r}.")
    missing = settings.unusable_providers().get(provider)
    if missing:
        raise BadRequest(f"Provider {provider!r} has no credentials or webhook secret in this gateway: set {missing} "
                         "before registering its numbers, short codes or alpha senders.")
    return provider


def add_sender(session: Session, sender: Sender) -> None:
    """Register a sender, refusing an address the account already has, and a number or short code
    another account has with the same provider: inbound traffic must find exactly one owner."""
    taken = session.execute(select(col(Sender.sid)).where(col(Sender.account_sid) == sender.account_sid,
                                                          col(Sender.address) == sender.address)).first()
    if taken is not None:
        raise AlreadyRegistered(f"{sender.address} is already registered to this account.")
    if sender.kind != SenderKind.ALPHA:  # alpha senders receive nothing, so several accounts may use one name
        elsewhere = session.execute(select(col(Sender.sid)).where(col(Sender.address) == sender.address,
                                                                  col(Sender.provider) == sender.provider,
                                                                  col(Sender.kind) != SenderKind.ALPHA.value)).first()
        if elsewhere is not None:
            raise AlreadyRegistered(f"{sender.address} is already registered with provider {sender.provider!r} by "
                                    "another account; a number belongs to one account.")
    session.add(sender)


async def fetch(request: Request) -> JSONResponse:
    account_sid = authenticate(request)
    with Session(request.app.state.engine) as session:
        return JSONResponse(number_json(owned(session, Sender, account_sid, request.path_params["sid"])))


async def listing(request: Request) -> JSONResponse:
    account_sid = authenticate(request)
    with Session(request.app.state.engine) as session:
        senders = session.execute(select(Sender).where(col(Sender.account_sid) == account_sid,
                                                       col(Sender.sid).startswith("PN"))
                                  .order_by(col(Sender.date_created))).scalars().all()
    uri = f"/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers.json"
    return JSONResponse({"incoming_phone_numbers": [number_json(s) for s in senders], "end": max(0, len(senders) - 1),
                         "first_page_uri": uri, "next_page_uri": None, "page": 0, "page_size": len(senders),
                         "previous_page_uri": None, "start": 0, "uri": uri})


async def remove(request: Request) -> Response:
    account_sid = authenticate(request)
    sid = request.path_params["sid"]
    def job(session: Session) -> None:
        sender = owned(session, Sender, account_sid, sid)
        session.execute(delete(StickyMapping).where(col(StickyMapping.sender_sid) == sid))
        session.delete(sender)

    await write_change(request, job)
    return Response(status_code=204)
