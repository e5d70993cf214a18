"""Messaging Services (Twilio's Messaging v1): the service, its sender pool, geo permissions
and sticky-sender mappings (which Twilio only changes through a support ticket)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.common import (
    Form,
    app_url,
    authenticate,
    base_url,
    country_codes,
    owned,
    read,
    read_form,
    traffic_type,
    v1_page,
    write_change,
)
from gateway.api.numbers import add_sender, provider_of
from gateway.compliance.gates import ALPHA_SENDER, SHORT_CODE, check_validity
from gateway.compliance.quiet_hours import TrafficType, service_windows
from gateway.compliance.sender_id import registered_countries
from gateway.dates import iso8601, utcnow
from gateway.errors import AlreadyRegistered, BadRequest, NotFound, NumberInAnotherService, OneAlphaSenderPerService
from gateway.ids import new_sid
from gateway.routing import SenderKind
from gateway.senders import mps_for, sends_mms
from gateway.settings import Settings
from gateway.store import senders
from gateway.store.tables import Sender, Service

#: Form field → (column, parser).  Booleans and ints are checked; the app's URLs ("callback") must pass
#: the callback destination policy; other text ("url") is kept as given.
_FIELDS: dict[str, tuple[str, str]] = {
    "FriendlyName": ("friendly_name", "text"),
    "InboundRequestUrl": ("inbound_request_url", "callback"),
    "InboundMethod": ("inbound_method", "method"),
    "FallbackUrl": ("fallback_url", "callback"),
    "FallbackMethod": ("fallback_method", "method"),
    "StatusCallback": ("status_callback", "callback"),
    "StickySender": ("sticky_sender", "bool"),
    "AreaCodeGeomatch": ("area_code_geomatch", "bool"),
    "SmartEncoding": ("smart_encoding", "bool"),
    "ValidityPeriod": ("validity_period", "validity"),
    "UseInboundWebhookOnNumber": ("use_inbound_webhook_on_number", "bool"),
    "MmsConverter": ("mms_converter", "bool"),
    # the gateway's own: what confirmations say, and how inbound forwards are shaped and signed
    "Brand": ("brand", "url"),
    "HelpContact": ("help_contact", "url"),
    "InboundFormat": ("inbound_format", "format"),
    "WebhookSecret": ("webhook_secret", "url"),
    # the category of sends that name no TrafficType: quiet hours hold only marketing
    "TrafficType": ("traffic_type", "traffic"),
    # the service's own send windows for marketing, on top of the policy files' (";"-separated or repeated)
    "QuietHours": ("quiet_hours", "windows"),
    # HEAD each MediaUrl before a send is queued: a Content-Type MMS carries, within 5 MB in all
    "MediaCheck": ("media_check", "bool"),
    # link shortening (ShortenUrls): the branded domain, where expired links go, links without
    # https:// (Twilio's DisableHttps), and where click events are posted
    "LinkShorteningDomain": ("link_domain", "domain"),
    "LinkFallbackUrl": ("link_fallback_url", "link"),
    "DisableHttps": ("disable_https", "bool"),
    "ClickCallbackUrl": ("click_callback_url", "callback"),
}


def service_json(service: Service, base: str) -> dict[str, Any]:
    url = f"{base}/v1/Services/{service.sid}"
    return {
        "sid": service.sid,
        "account_sid": service.account_sid,
        "friendly_name": service.friendly_name,
        "inbound_request_url": service.inbound_request_url,
        "inbound_method": service.inbound_method,
        "fallback_url": service.fallback_url,
        "fallback_method": service.fallback_method,
        "status_callback": service.status_callback,
        "sticky_sender": service.sticky_sender,
        "area_code_geomatch": service.area_code_geomatch,
        "smart_encoding": service.smart_encoding,
        "validity_period": service.validity_period,
        "mms_converter": service.mms_converter,
        "fallback_to_long_code": False,
        "scan_message_content": "inherit",
        "synchronous_validation": False,
        "usecase": "undeclared",
        "us_app_to_person_registered": False,
        "use_inbound_webhook_on_number": service.use_inbound_webhook_on_number,
        "brand": service.brand,
        "help_contact": service.help_contact,
        "inbound_format": service.inbound_format,
        "traffic_type": service.traffic_type,
        "quiet_hours": service.quiet_hours.splitlines() if service.quiet_hours else None,
        "media_check": service.media_check,
        "link_shortening_domain": service.link_domain,
        "link_fallback_url": service.link_fallback_url,
        "disable_https": service.disable_https,
        "click_callback_url": service.click_callback_url,
        "date_created": iso8601(service.date_created),
        "date_updated": iso8601(service.date_updated),
        "url": url,
        "links": {
            name: f"{url}/{path}"
            for name, path in (
                ("phone_numbers", "PhoneNumbers"),
                ("short_codes", "ShortCodes"),
                ("alpha_senders", "AlphaSenders"),
                ("geo_permissions", "GeoPermissions"),
                ("sticky_senders", "StickySenders"),
                ("notifications", "Notifications"),
            )
        },
    }


def member_json(sender: Sender, base: str) -> dict[str, Any]:
    path = {"short_code": "ShortCodes", "alpha": "AlphaSenders"}.get(sender.kind, "PhoneNumbers")
    body: dict[str, Any] = {
        "sid": sender.sid,
        "account_sid": sender.account_sid,
        "service_sid": sender.service_sid,
        "date_created": iso8601(sender.date_created),
        "date_updated": iso8601(sender.date_updated),
        "capabilities": ["SMS", "MMS"] if sends_mms(sender.kind, sender.mms, sender.provider) else ["SMS"],
        "country_code": sender.country,
        "mps": sender.mps,
        "type": sender.kind,
        "url": f"{base}/v1/Services/{sender.service_sid}/{path}/{sender.sid}",
    }
    key = {"short_code": "short_code", "alpha": "alpha_sender"}.get(sender.kind, "phone_number")
    body[key] = sender.address
    if sender.kind == "alpha":
        body["registered_countries"] = sorted(registered_countries(sender.registered_countries))
    return body


def _apply(service: Service, form: Form, settings: Settings) -> None:
    for name, (column, kind) in _FIELDS.items():
        if name not in form:
            continue
        value: Any = form.get(name)
        if kind == "bool":
            value = form.boolean(name)
        elif kind == "validity":
            value = form.integer(name, -(2**31), 2**31)
            check_validity(value)
        elif kind == "method":
            value = (value or "POST").upper()
            if value not in ("GET", "POST"):
                raise BadRequest(f"{name} must be GET or POST.")
        elif kind == "callback":
            value = app_url(form, name, settings)
        elif kind == "url":
            value = value or None
        elif kind == "domain":
            value = _link_domain(value)
        elif kind == "link":
            value = _absolute_link(name, value)
        elif kind == "format" and value not in ("twilio", "json"):
            raise BadRequest("InboundFormat must be twilio or json.")
        elif kind == "traffic":
            value = traffic_type(form) or TrafficType.TRANSACTIONAL  # empty: back to the default
        elif kind == "windows":
            value = _windows(service.sid, form.getlist(name))
        elif kind == "text" and (not value or len(value) > 64):
            raise BadRequest("FriendlyName is required and at most 64 characters.")
        setattr(service, column, value)


def _link_domain(value: str | None) -> str | None:
    """A host with an optional port and path, without a scheme (`go.acme.com`); empty: the gateway's."""
    domain = (value or "").strip().rstrip("/")
    if not domain:
        return None
    host = domain.split("/", 1)[0]
    if "://" in domain or any(c.isspace() for c in domain) or not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?", host):
        raise BadRequest("LinkShorteningDomain must be a host and optional path without a scheme, e.g. go.acme.com.")
    return domain


def _absolute_link(name: str, value: str | None) -> str | None:
    """Where people are sent: an absolute http(s) URL (the gateway never requests it itself)."""
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > 4000:
        raise BadRequest(f"{name} must be an absolute http or https URL.")
    return value


def _windows(service_sid: str, values: list[str]) -> str | None:
    """`QuietHours` as stored: one window per line, each checked as the policy files check theirs (400
    naming the bad one); empty: none."""
    text = "\n".join(" ".join(w.split()) for value in values for w in value.split(";") if w.strip())
    try:
        service_windows(service_sid, text)
    except ValueError as exc:
        raise BadRequest(f"QuietHours: {exc}.") from None
    return text or None


def owned_service(session: Session, account_sid: str, sid: str) -> Service:
    return owned(session, Service, account_sid, sid)


async def create(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    form = await read_form(request)
    if not form.get("FriendlyName"):
        raise BadRequest("FriendlyName is required.")
    now = utcnow()
    service = Service(sid=new_sid("MG"), account_sid=account_sid, friendly_name="", date_created=now, date_updated=now)
    _apply(service, form, request.app.state.settings)
    await write_change(request, lambda session: session.add(service))
    return JSONResponse(service_json(service, base_url(request)), status_code=201)


async def listing(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    services = await read(request, senders.services, account_sid)
    base = base_url(request)
    return JSONResponse(v1_page("services", [service_json(s, base) for s in services], f"{base}/v1/Services"))


async def fetch(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    service = await read(request, owned_service, account_sid, request.path_params["sid"])
    return JSONResponse(service_json(service, base_url(request)))


async def update_service(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    form = await read_form(request)

    def job(session: Session) -> Service:
        service = owned_service(session, account_sid, request.path_params["sid"])
        _apply(service, form, request.app.state.settings)
        service.date_updated = utcnow()
        session.add(service)
        return service

    return JSONResponse(service_json(await write_change(request, job), base_url(request)))


async def remove(request: Request) -> Response:
    account_sid = await authenticate(request)
    sid = request.path_params["sid"]

    def job(session: Session) -> None:
        senders.remove_service(session, owned_service(session, account_sid, sid))

    await write_change(request, job)
    return Response(status_code=204)


# --- the sender pool -------------------------------------------------------------------------

_POOLS = {
    "PhoneNumbers": ("phone_numbers", ("long_code", "toll_free", "mobile", "whatsapp")),
    "ShortCodes": ("short_codes", ("short_code",)),
    "AlphaSenders": ("alpha_senders", ("alpha",)),
}


def _pool_name(request: Request) -> str:
    return str(request.url.path).rstrip("/").split("/")[4]


async def add_member(request: Request) -> JSONResponse:
    """Add a number the account registered, or create a short code or alpha sender in the pool.

    A short code or alpha sender is registered through `numbers.add_sender`, which refuses an
    address the account (or, for what receives, another account) already has, as for phone
    numbers.  Its check and the UNIQUE constraints agree; a constraint that still fires (another
    process won the race twice) is answered as the same refusal, never as a 500."""
    account_sid = await authenticate(request)
    form = await read_form(request)
    pool, service_sid = _pool_name(request), request.path_params["sid"]
    provider = provider_of(form, request.app.state.settings) if pool != "PhoneNumbers" else ""
    now = utcnow()

    def job(session: Session) -> Sender:
        owned_service(session, account_sid, service_sid)
        if pool == "PhoneNumbers":
            sender = owned(session, Sender, account_sid, form.get("PhoneNumberSid") or "")
            if sender.service_sid not in (None, service_sid):
                raise NumberInAnotherService(f"{sender.address} is already in Messaging Service {sender.service_sid}.")
            sender.service_sid, sender.date_updated = service_sid, now
            session.add(sender)
            return sender
        sender = (
            _short_code(account_sid, form, now, provider)
            if pool == "ShortCodes"
            else _alpha(session, account_sid, service_sid, form, now, provider)
        )
        sender.service_sid = service_sid
        add_sender(session, sender)
        return sender

    try:
        added = await write_change(request, job)
    except IntegrityError:
        address = form.get("ShortCode") if pool == "ShortCodes" else form.get("AlphaSender")
        raise AlreadyRegistered(f"{address} is already registered (by a request that ran at the same time).") from None
    return JSONResponse(member_json(added, base_url(request)), status_code=201)


def _short_code(account_sid: str, form: Form, now: Any, provider: str) -> Sender:
    code, country = form.get("ShortCode") or "", (form.get("CountryCode") or "").upper()
    if not SHORT_CODE.match(code):
        raise BadRequest(f"ShortCode must be 3 to 8 digits, not {code!r}.")
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise BadRequest("CountryCode (ISO 3166 alpha-2, e.g. US) is required for a short code.")
    mps = mps_for(SenderKind.SHORT_CODE, country, form.integer("Mps", 1, 10000))
    return Sender(
        sid=new_sid("SC"),
        account_sid=account_sid,
        address=code,
        kind="short_code",
        country=country,
        provider=provider,
        mps=mps,
        mms=form.boolean("Mms"),  # a short code sends MMS only once registered for it
        date_created=now,
        date_updated=now,
    )


def _alpha(session: Session, account_sid: str, service_sid: str, form: Form, now: Any, provider: str) -> Sender:
    alpha = form.get("AlphaSender") or ""
    if not ALPHA_SENDER.match(alpha):
        raise BadRequest(
            f"AlphaSender must be 1-11 letters, digits, spaces or -+_& with at least one letter, not {alpha!r}."
        )
    registered = country_codes(form, "RegisteredCountries")
    if senders.has_alpha(session, service_sid):
        raise OneAlphaSenderPerService("A Messaging Service can have only one alpha sender.")
    return Sender(
        sid=new_sid("AI"),
        account_sid=account_sid,
        address=alpha,
        kind="alpha",
        country=None,
        provider=provider,
        mps=mps_for(SenderKind.ALPHA, None, form.integer("Mps", 1, 10000)),
        registered_countries=",".join(registered) or None,
        date_created=now,
        date_updated=now,
    )


async def list_members(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    pool, service_sid, base = _pool_name(request), request.path_params["sid"], base_url(request)

    def members(session: Session) -> list[Sender]:
        owned_service(session, account_sid, service_sid)
        return senders.pool(session, service_sid, _POOLS[pool][1])

    return JSONResponse(
        v1_page(
            _POOLS[pool][0],
            [member_json(m, base) for m in await read(request, members)],
            f"{base}/v1/Services/{service_sid}/{pool}",
        )
    )


def _member(session: Session, request: Request, account_sid: str) -> Sender:
    pool, service_sid, sid = _pool_name(request), request.path_params["sid"], request.path_params["member"]
    return pool_member(session, account_sid, service_sid, pool, sid)


def pool_member(session: Session, account_sid: str, service_sid: str, pool: str, sid: str) -> Sender:
    """The sender `sid` in the account's service's pool `pool`; 20404 otherwise."""
    owned_service(session, account_sid, service_sid)
    sender = session.get(Sender, sid)
    if sender is None or sender.service_sid != service_sid or sender.kind not in _POOLS[pool][1]:
        raise NotFound(f"The requested resource {sid} was not found")
    return sender


async def fetch_member(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    member = await read(
        request,
        pool_member,
        account_sid,
        request.path_params["sid"],
        _pool_name(request),
        request.path_params["member"],
    )
    return JSONResponse(member_json(member, base_url(request)))


async def update_alpha(request: Request) -> JSONResponse:
    """Change the countries an alpha sender is registered for (`RegisteredCountries`, which replaces
    the list; empty: none), as registrations are granted, without taking it out of the pool (which
    would drop its sticky mappings)."""
    account_sid = await authenticate(request)
    form = await read_form(request)
    registered = country_codes(form, "RegisteredCountries")

    def job(session: Session) -> Sender:
        sender = _member(session, request, account_sid)
        sender.registered_countries, sender.date_updated = ",".join(registered) or None, utcnow()
        session.add(sender)
        return sender

    return JSONResponse(member_json(await write_change(request, job), base_url(request)))


async def remove_member(request: Request) -> Response:
    """Leaving the pool deletes the sender's sticky mappings (Twilio's rule); short codes and alpha
    senders exist only in a pool, so they are deleted outright."""
    account_sid = await authenticate(request)

    def job(session: Session) -> None:
        sender = _member(session, request, account_sid)
        if sender.kind in ("short_code", "alpha"):
            senders.remove_sender(session, sender)
        else:
            senders.forget_sticky(session, sender_sid=sender.sid)
            sender.service_sid, sender.date_updated = None, utcnow()
            session.add(sender)

    await write_change(request, job)
    return Response(status_code=204)
