"""The sender registry: Twilio's IncomingPhoneNumbers resource (2010-04-01).

Besides Twilio's fields it takes `Provider` (which provider sends for the
number), `Mps` (its throughput, segments per second; Twilio's default for
its type when omitted) and `Mms` (whether it can send MMS; default true).
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.common import Form, app_url, authenticate, owned, read, read_form, write_change
from gateway.compliance.gates import E164
from gateway.dates import rfc2822
from gateway.errors import AlreadyRegistered, BadRequest
from gateway.ids import new_sid
from gateway.outbox.payloads import API_VERSION
from gateway.providers import PROVIDERS
from gateway.routing import SenderKind
from gateway.senders import classify_number, mps_for, sends_mms
from gateway.settings import Settings
from gateway.store import senders
from gateway.store.db import utcnow
from gateway.store.tables import Sender


def number_json(sender: Sender) -> dict[str, Any]:
    return {
        "sid": sender.sid,
        "account_sid": sender.account_sid,
        "friendly_name": sender.address,
        "phone_number": sender.address,
        "capabilities": {
            "sms": True,
            "mms": sends_mms(sender.kind, sender.mms, sender.provider),
            "voice": False,
            "fax": False,
        },
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
    account_sid = await authenticate(request)
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
    sender = Sender(
        sid=new_sid("PN"),
        account_sid=account_sid,
        address=address,
        kind=kind.value,
        country=country,
        provider=provider,
        mps=mps_for(kind, country, form.integer("Mps", 1, 10000)),
        sms_url=app_url(form, "SmsUrl", request.app.state.settings),
        mms=form.boolean("Mms"),
        date_created=now,
        date_updated=now,
    )
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
        raise BadRequest(
            f"Provider {provider!r} has no credentials or webhook secret in this gateway: set {missing} "
            "before registering its numbers, short codes or alpha senders."
        )
    return provider


def add_sender(session: Session, sender: Sender) -> None:
    """Register a sender, refusing an address the account already has, and a number or short code
    another account has with the same provider: inbound traffic must find exactly one owner."""
    if senders.address_of_account(session, sender.account_sid, sender.address):
        raise AlreadyRegistered(f"{sender.address} is already registered to this account.")
    if sender.kind != SenderKind.ALPHA:  # alpha senders receive nothing, so several accounts may use one name
        if senders.receiving_address_with(session, sender.address, sender.provider):
            raise AlreadyRegistered(
                f"{sender.address} is already registered with provider {sender.provider!r} by "
                "another account; a number belongs to one account."
            )
    session.add(sender)


async def fetch(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    return JSONResponse(number_json(await read(request, owned, Sender, account_sid, request.path_params["sid"])))


async def listing(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    found = await read(request, senders.numbers, account_sid)
    uri = f"/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers.json"
    return JSONResponse(
        {
            "incoming_phone_numbers": [number_json(s) for s in found],
            "end": max(0, len(found) - 1),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": len(found),
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }
    )


async def remove(request: Request) -> Response:
    account_sid = await authenticate(request)
    sid = request.path_params["sid"]

    def job(session: Session) -> None:
        senders.remove_sender(session, owned(session, Sender, account_sid, sid))

    await write_change(request, job)
    return Response(status_code=204)
