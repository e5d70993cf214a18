"""`/metrics`: Prometheus's text format, for a scraper holding GATEWAY_METRICS_TOKEN."""

from __future__ import annotations

import asyncio
import hmac

from starlette.requests import Request
from starlette.responses import Response

from gateway.errors import AuthenticationFailed, Forbidden
from gateway.observability.metrics import CONTENT_TYPE, exposition


async def metrics(request: Request) -> Response:
    """Every series of the processes on this machine, and the queue from the database.  Like every
    route but the providers' webhooks and the health checks it needs credentials: a bearer token,
    not an account's, since a scraper is no tenant (the series span all accounts)."""
    token = request.app.state.settings.metrics_token
    if not token:
        raise Forbidden("/metrics is off: set GATEWAY_METRICS_TOKEN and scrape with `Authorization: Bearer <token>`.")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise AuthenticationFailed("/metrics needs `Authorization: Bearer <GATEWAY_METRICS_TOKEN>`.")
    body = await asyncio.to_thread(exposition, request.app.state.engine)
    return Response(body, media_type=CONTENT_TYPE)
