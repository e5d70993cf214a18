"""Bulk sends: `POST /v1/Services/{sid}/Notifications`, Twilio Notify's shape.

Up to 10,000 `ToBinding` entries (JSON objects with `binding_type` and
`address`, as Notify takes them), each gated and routed on its own: one bad
number refuses that entry, not the batch.  All accepted messages commit in one
transaction before the answer.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.api.common import app_url, authenticate, owned, read, read_form
from gateway.compliance.gates import check_content
from gateway.dates import iso8601, utcnow
from gateway.dispatch.submit import SendRequest
from gateway.errors import BadRequest, GatewayError, ToRequired
from gateway.ids import new_sid
from gateway.orchestration.core import Core
from gateway.store.tables import Service

MAX_BINDINGS = 10_000


def _address(binding: str) -> str:
    try:
        value = json.loads(binding)
    except ValueError:
        return binding  # a bare number is accepted too
    if isinstance(value, dict) and isinstance(address := value.get("address"), str):
        prefix = "whatsapp:" if value.get("binding_type") == "whatsapp" and not address.startswith("whatsapp:") else ""
        return prefix + address
    return binding


async def create(request: Request) -> JSONResponse:
    account_sid = await authenticate(request)
    form = await read_form(request)
    service_sid = request.path_params["sid"]
    await read(request, owned, Service, account_sid, service_sid)  # another account's service is not there at all
    bindings = form.getlist("ToBinding")
    if not bindings:
        raise ToRequired("At least one ToBinding is required.")
    if len(bindings) > MAX_BINDINGS:
        raise BadRequest(f"At most {MAX_BINDINGS} ToBinding entries per request.")
    body = form.get("Body") or ""
    check_content(body, ())
    callback = app_url(form, "StatusCallback", request.app.state.settings)
    addresses = [_address(b) for b in bindings]
    core: Core = request.app.state.core
    results = await core.send_many(
        [
            SendRequest(account_sid=account_sid, to=to, body=body, service_sid=service_sid, status_callback=callback)
            for to in addresses
        ]
    )
    outcomes: list[dict[str, Any]] = []
    for to, result in zip(addresses, results, strict=True):
        if isinstance(result, GatewayError):
            outcomes.append(
                {
                    "to": to,
                    "message_sid": None,
                    "status": "failed",
                    "error_code": result.code,
                    "error_message": result.message,
                }
            )
        else:
            outcomes.append(
                {"to": to, "message_sid": result.sid, "status": "accepted", "error_code": None, "error_message": None}
            )
    accepted = sum(1 for o in outcomes if o["message_sid"])
    return JSONResponse(
        {
            "sid": new_sid("NT"),
            "account_sid": account_sid,
            "service_sid": service_sid,
            "body": body,
            "date_created": iso8601(utcnow()),
            "accepted": accepted,
            "failed": len(outcomes) - accepted,
            "results": outcomes,
        },
        status_code=201,
    )
