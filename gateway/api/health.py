"""Liveness, readiness and the API description."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.providers import PROVIDERS
from gateway.store.db import ping, providers_in_use

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"


async def healthz(request: Request) -> JSONResponse:
    """The process is alive and serving HTTP; nothing else is checked."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers, a valid policy revision is serving, this process's workers
    (when it runs them) are alive, and every provider that has numbers registered can have its
    webhooks verified (one without a secret refuses them all)."""
    state = request.app.state
    reasons: list[str] = []
    missing = state.settings.missing_secrets()
    try:
        ping(state.engine)
        database = "ok"
        in_use = providers_in_use(state.engine)
    except SQLAlchemyError as exc:
        database = "unreachable"
        reasons.append(f"database unreachable: {type(exc).__name__}")
        in_use = set()
    reasons += [f"webhooks of provider {name} are refused (no secret: set {missing[name]}), "
                "yet numbers are registered with it" for name in sorted(in_use & missing.keys())]
    policy = state.policy
    if policy.matcher is None:
        reasons.append("no valid policy revision loaded")
    workers = _workers(state)
    if workers == "stopped":
        reasons.append("the dispatch or forwarding worker of this process stopped: nothing is sent or forwarded "
                       "by it (its log says why)")
    health = state.core.health.report() if state.core.health is not None else {}
    unhealthy = {name: report for name, report in health.items() if report["state"] != "healthy"}
    body = {
        "status": "ready" if not reasons else "not ready",
        "reasons": reasons,
        "database": database,
        "workers": workers,
        "webhooks": {name: "refused: no secret configured" if name in missing else "verified"
                     for name in sorted(PROVIDERS)},
        # Not a reason to be unready: the gateway still takes messages, routes them to healthy
        # providers and holds the others' until they recover.
        "providers": {name: unhealthy.get(name, {"state": "healthy", "since": None})
                      for name in sorted(PROVIDERS)},
        "policy": {
            "revision": policy.matcher.revision if policy.matcher else None,
            "errors": [str(e) for e in policy.errors],
            "warnings": len(policy.warnings),
        },
    }
    return JSONResponse(body, status_code=200 if not reasons else 503)


def _workers(state: Any) -> str:
    """`running`, `stopped` (the dispatcher or forwarder of this process ended), or `off`
    (GATEWAY_WORKERS=false: `gateway worker` processes dispatch and forward)."""
    if not state.settings.workers:
        return "off"
    dispatcher, forwarder = state.core.dispatcher, state.core.forwarder
    alive = dispatcher is not None and forwarder is not None and dispatcher.running() and forwarder.running()
    return "running" if alive else "stopped"


async def openapi(request: Request) -> Response:
    return Response(OPENAPI.read_bytes(), media_type="application/yaml")
