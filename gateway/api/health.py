"""Liveness, readiness and the API description."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.store.db import ping

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"


async def healthz(request: Request) -> JSONResponse:
    """The process is alive and serving HTTP; nothing else is checked."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and a valid policy revision is serving."""
    state = request.app.state
    reasons: list[str] = []
    try:
        ping(state.engine)
        database = "ok"
    except SQLAlchemyError as exc:
        database = "unreachable"
        reasons.append(f"database unreachable: {type(exc).__name__}")
    policy = state.policy
    if policy.matcher is None:
        reasons.append("no valid policy revision loaded")
    body = {
        "status": "ready" if not reasons else "not ready",
        "reasons": reasons,
        "database": database,
        "policy": {
            "revision": policy.matcher.revision if policy.matcher else None,
            "errors": [str(e) for e in policy.errors],
            "warnings": len(policy.warnings),
        },
    }
    return JSONResponse(body, status_code=200 if not reasons else 503)


async def openapi(request: Request) -> Response:
    return Response(OPENAPI.read_bytes(), media_type="application/yaml")
