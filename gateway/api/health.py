"""Liveness, readiness and the API description."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.api.common import read
from gateway.providers import MODULES, PROVIDERS
from gateway.store.db import ping, senders_by_provider

log = logging.getLogger("gateway.api.health")

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"


async def healthz(request: Request) -> JSONResponse:
    """The process is alive and serving HTTP; nothing else is checked."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers, a valid policy revision is serving and this process's
    workers (when it runs them) are alive. Nothing an account can create through the API counts:
    senders left with a provider that has since lost its credentials or webhook secret (no new
    ones can be registered) are reported in `stranded_senders` and logged, and the instance
    stays in service for every other sender."""
    state = request.app.state
    reasons: list[str] = []
    missing = state.settings.missing_secrets()
    try:
        registered = await read(request, _registered)
        if state.core.health is not None:  # every process answers with the deployment's outages
            await state.core.health.refresh()
        database = "ok"
    except SQLAlchemyError as exc:
        database = "unreachable"
        reasons.append(f"database unreachable: {type(exc).__name__}")
        registered = {}
    unusable = state.settings.unusable_providers()
    stranded = {
        name: {"senders": count, "set": unusable[name]}
        for name, count in sorted(registered.items())
        if name in unusable
    }
    _log_stranded(state, stranded)
    policy = state.policy
    if policy.matcher is None:
        reasons.append("no valid policy revision loaded")
    workers = _workers(state)
    if workers == "stopped":
        reasons.append(
            "the dispatch or forwarding worker of this process stopped: nothing is sent or forwarded "
            "by it (its log says why)"
        )
    health = state.core.health.report() if state.core.health is not None else {}
    unhealthy = {name: report for name, report in health.items() if report["state"] != "healthy"}
    body = {
        "status": "ready" if not reasons else "not ready",
        "reasons": reasons,
        "database": database,
        "workers": workers,
        "webhooks": {name: _webhooks(name, missing) for name in sorted(PROVIDERS)},
        # Not a reason to be unready either: while a bind is made again its messages wait queued.
        "links": _links(state),
        "stranded_senders": stranded,
        # Not a reason to be unready: the gateway still takes messages, routes them to healthy
        # providers and holds the others' until they recover.
        "providers": {name: unhealthy.get(name, {"state": "healthy", "since": None}) for name in sorted(PROVIDERS)},
        "policy": {
            "revision": policy.matcher.revision if policy.matcher else None,
            "errors": [str(e) for e in policy.errors],
            "warnings": len(policy.warnings),
        },
    }
    return JSONResponse(body, status_code=200 if not reasons else 503)


def _registered(session: Session) -> dict[str, int]:
    """How many senders each provider has, once the database answered a ping."""
    connection = session.connection()
    ping(connection)
    return senders_by_provider(connection)


def _log_stranded(state: Any, stranded: dict[str, dict[str, Any]]) -> None:
    """Warn once per change, not on every probe: a readiness probe polls every few seconds."""
    if stranded == getattr(state, "stranded_logged", {}):
        return
    state.stranded_logged = stranded
    for name, report in stranded.items():
        log.warning(
            "%d sender(s) are registered with provider %s, which cannot send or have its webhooks "
            "verified: set %s (or remove them)",
            report["senders"],
            name,
            report["set"],
        )


def _webhooks(name: str, missing: dict[str, str]) -> str:
    if not MODULES[name].webhooks:
        return "none: reports and messages arrive over its bind"
    return "refused: no secret configured" if name in missing else "verified"


def _links(state: Any) -> dict[str, str]:
    """Each held-connection provider's bind as this process holds it: `bound`, `binding` (at start
    or again after a drop), or `not held` (its workers are off here, or it cannot send)."""
    held = state.workers.links if state.workers is not None else {}
    return {
        name: held[name].state() if name in held else "not held"
        for name, module in sorted(MODULES.items())
        if module.link is not None
    }


def _workers(state: Any) -> str:
    """`running`, `stopped` (the dispatcher or forwarder of this process ended), or `off`
    (GATEWAY_WORKERS=false: `gateway worker` processes dispatch and forward)."""
    if not state.settings.workers:
        return "off"
    return "running" if state.workers is not None and state.workers.running() else "stopped"


async def openapi(request: Request) -> Response:
    return Response(OPENAPI.read_bytes(), media_type="application/yaml")
