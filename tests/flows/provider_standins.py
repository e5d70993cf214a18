"""Stand-ins for Plivo, Telnyx and Vonage on 127.0.0.1: their send APIs as they answer, and their
webhooks as they sign them (written here from the providers' docs and SDKs, not from the adapters)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.providers.base import parse_form
from tests.flows.server import serve

PLIVO_AUTH_ID = "MAXXXXXXXXXXXXXXXXXX"
PLIVO_AUTH_TOKEN = "plivo-auth-token-for-tests"
TELNYX_API_KEY = "KEY0123456789ABCDEF"
VONAGE_API_KEY, VONAGE_API_SECRET = "a1b2c3d4", "vonage-api-secret"
VONAGE_SIGNATURE_SECRET = "vonage-signature-secret"


@dataclass
class Sent:
    """One send request as the stand-in received it."""

    sender: str
    to: str
    body: str
    callback: str | None
    provider_sid: str
    fields: dict[str, object]


@dataclass
class StandIn:
    """What every stand-in shares: the sends it took, destinations it refuses, and an outage switch."""

    base: str = ""
    sent: list[Sent] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # destinations (E.164) the provider calls invalid
    down: bool = False  # answer 503 to every send
    requests: int = 0
    arrivals: list[tuple[float, bool]] = field(default_factory=list)  # (monotonic time, while down) per request

    def requested(self) -> None:
        self.requests += 1
        self.arrivals.append((time.monotonic(), self.down))

    def to(self, number: str) -> list[Sent]:
        return [s for s in self.sent if s.to.lstrip("+") == number.lstrip("+")]


# --- Plivo -----------------------------------------------------------------------------------


def plivo_signature(url: str, params: dict[str, str], nonce: str, token: str = PLIVO_AUTH_TOKEN) -> str:
    """X-Plivo-Signature-V3 as plivo-python's signature_v3 computes it for a POST."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query = parse_qs(parts.query, keep_blank_values=True)
    query_string = "&".join(f"{k}={v}" for k in sorted(query) for v in sorted(query[k]))
    signed = base + "?" + query_string + ("." if query_string else "")
    signed += "".join(f"{k}{params[k]}" for k in sorted(params)) + "." + nonce
    return base64.b64encode(hmac.new(token.encode(), signed.encode(), hashlib.sha256).digest()).decode()


def plivo_post(url: str, params: dict[str, str], token: str = PLIVO_AUTH_TOKEN) -> httpx.Response:
    nonce = str(secrets.randbelow(10**20))
    return httpx.post(
        url,
        data=params,
        headers={
            "X-Plivo-Signature-V3": plivo_signature(url, params, nonce, token),
            "X-Plivo-Signature-V3-Nonce": nonce,
        },
    )


def _plivo_app(state: StandIn) -> Starlette:
    async def message(request: Request) -> Response:
        state.requested()
        if state.down:
            return JSONResponse({"api_id": str(uuid.uuid4()), "error": "service unavailable"}, 503)
        payload = json.loads(await request.body())
        if payload["dst"] in state.refused:
            return JSONResponse({"api_id": str(uuid.uuid4()), "error": "dst parameter is not a valid number"}, 400)
        sid = str(uuid.uuid4())
        state.sent.append(Sent(payload["src"], payload["dst"], payload["text"], payload.get("url"), sid, payload))
        return JSONResponse({"api_id": str(uuid.uuid4()), "message": "message(s) queued", "message_uuid": [sid]}, 202)

    return Starlette(routes=[Route("/v1/Account/{auth_id}/Message/", message, methods=["POST"])])


# --- Telnyx ----------------------------------------------------------------------------------


@dataclass
class TelnyxKeys:
    private: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def public_base64(self) -> str:
        return base64.b64encode(self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()

    def post(
        self,
        url: str,
        event: str,
        payload: dict[str, object],
        *,
        at: float | None = None,
        key: Ed25519PrivateKey | None = None,
    ) -> httpx.Response:
        """POST a Telnyx webhook envelope, signed as Telnyx signs: Ed25519 over "timestamp|body"."""
        body = json.dumps(
            {
                "data": {
                    "event_type": event,
                    "id": str(uuid.uuid4()),
                    "record_type": "event",
                    "occurred_at": "2026-12-01T17:00:00.000+00:00",
                    "payload": payload,
                },
                "meta": {"attempt": 1, "delivered_to": url},
            }
        ).encode()
        stamp = str(int(at if at is not None else time.time()))
        signature = (key or self.private).sign(stamp.encode() + b"|" + body)
        return httpx.post(
            url,
            content=body,
            headers={
                "content-type": "application/json",
                "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
                "telnyx-timestamp": stamp,
            },
        )


def _telnyx_app(state: StandIn) -> Starlette:
    async def message(request: Request) -> Response:
        state.requested()
        if state.down:
            return JSONResponse({"errors": [{"code": "10011", "title": "Service unavailable"}]}, 503)
        payload = json.loads(await request.body())
        if payload["to"] in state.refused:
            return JSONResponse(
                {
                    "errors": [
                        {
                            "code": "40310",
                            "title": "Invalid 'to' address",
                            "detail": "The 'to' address should be in E.164 format.",
                        }
                    ]
                },
                400,
            )
        sid = str(uuid.uuid4())
        state.sent.append(
            Sent(payload["from"], payload["to"], payload["text"], payload.get("webhook_url"), sid, payload)
        )
        return JSONResponse(
            {
                "data": {
                    "record_type": "message",
                    "id": sid,
                    "direction": "outbound",
                    "from": {"phone_number": payload["from"]},
                    "to": [{"phone_number": payload["to"], "status": "queued"}],
                    "text": payload["text"],
                }
            }
        )

    return Starlette(routes=[Route("/v2/messages", message, methods=["POST"])])


# --- Vonage ----------------------------------------------------------------------------------


def vonage_sig(params: dict[str, str], secret: str = VONAGE_SIGNATURE_SECRET, method: str = "md5hash") -> str:
    """`sig` as vonage-python-sdk's signature() computes it."""
    hasher = hashlib.md5() if method == "md5hash" else hmac.new(secret.encode(), digestmod=method)
    for key in sorted(params):
        hasher.update(f"&{key}={params[key].replace('&', '_').replace('=', '_')}".encode())
    if method == "md5hash":
        hasher.update(secret.encode())
    return hasher.hexdigest()


def vonage_signed(
    params: dict[str, str], *, at: float | None = None, secret: str = VONAGE_SIGNATURE_SECRET, method: str = "md5hash"
) -> dict[str, str]:
    params = params | {"timestamp": str(int(at if at is not None else time.time())), "nonce": str(uuid.uuid4())}
    return params | {"sig": vonage_sig(params, secret, method)}


def _vonage_app(state: StandIn) -> Starlette:
    async def sms(request: Request) -> Response:
        state.requested()
        if state.down:
            return Response("Service Unavailable", 503)
        form = dict(parse_form(await request.body()))
        assert (form["api_key"], form["api_secret"]) == (VONAGE_API_KEY, VONAGE_API_SECRET)
        to = str(form["to"])
        if f"+{to}" in state.refused:
            return JSONResponse(
                {
                    "message-count": "1",
                    "messages": [{"to": to, "status": "6", "error-text": "Unroutable message - rejected"}],
                }
            )
        sid = uuid.uuid4().hex[:16].upper()
        state.sent.append(
            Sent(str(form["from"]), to, str(form["text"]), str(form.get("callback") or "") or None, sid, dict(form))
        )
        return JSONResponse(
            {
                "message-count": "1",
                "messages": [
                    {
                        "to": to,
                        "message-id": sid,
                        "status": "0",
                        "remaining-balance": "3.14",
                        "message-price": "0.05",
                        "network": "20801",
                    }
                ],
            }
        )

    return Starlette(routes=[Route("/sms/json", sms, methods=["POST"])])


APPS = {"plivo": _plivo_app, "telnyx": _telnyx_app, "vonage": _vonage_app}


@contextmanager
def standin(provider: str) -> Iterator[StandIn]:
    state = StandIn()
    with serve(APPS[provider](state)) as base:
        state.base = base
        yield state


def settings_for(provider: str, base: str, keys: TelnyxKeys | None = None) -> dict[str, object]:
    """The gateway settings that point `provider` at its stand-in, with its credentials and secret."""
    if provider == "plivo":
        return {"plivo_auth_id": PLIVO_AUTH_ID, "plivo_auth_token": PLIVO_AUTH_TOKEN, "plivo_base_url": base}
    if provider == "telnyx":
        assert keys is not None
        return {"telnyx_api_key": TELNYX_API_KEY, "telnyx_public_key": keys.public_base64, "telnyx_base_url": base}
    return {
        "vonage_api_key": VONAGE_API_KEY,
        "vonage_api_secret": VONAGE_API_SECRET,
        "vonage_signature_secret": VONAGE_SIGNATURE_SECRET,
        "vonage_base_url": base,
    }


def form_query(params: dict[str, str]) -> str:
    return urlencode(params)


def register(stack, number: str, provider: str, mps: int = 20) -> dict:  # type: ignore[no-untyped-def]
    """Register one of our numbers with its provider (the gateway's own `Provider` field)."""
    response = httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": number, "Mps": str(mps), "Provider": provider},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def service_with(stack, *numbers: tuple[str, str]):  # type: ignore[no-untyped-def]
    """A messaging service whose pool holds each (number, provider), forwarding to the stand-in app."""
    client = stack.client()
    service = client.messaging.v1.services.create(
        friendly_name="Acme Dental",
        inbound_request_url=stack.app.url("/inbound"),
        status_callback=stack.app.url("/status"),
    )
    for number, provider in numbers:
        sid = register(stack, number, provider)["sid"]
        client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=sid)
    return service


def stored_inbound(stack) -> int:  # type: ignore[no-untyped-def]
    """How many inbound receipts the gateway holds (a refused webhook adds none)."""
    from sqlmodel import Session, func, select

    from gateway.store.tables import InboundReceipt

    with Session(stack.engine()) as session:
        return int(session.exec(select(func.count()).select_from(InboundReceipt)).one())


def french_opt_out_reply(shipped, person: str, number: str) -> str:  # type: ignore[no-untyped-def]
    """The confirmation a French opt-out gets from the shipped policy, as sent (smart encoding applied)."""
    from gateway.encoding import segment
    from gateway.locales import Catalogs
    from gateway.policy.evaluate import country_of
    from tests.conftest import ROOT

    words = shipped.table(country_of(person)).reply_words("fr")
    rendered = Catalogs.load(ROOT / "locales").render(
        "opt_out", "fr", {"brand": "Acme Dental", "help_contact": number} | words
    )
    return segment(rendered, smart=True).text
