"""Policy for compliance staff over HTTP: what is serving, and what a message would do.

The same answers as `gateway policy check` and `gateway policy test`, for the
console page and for scripts that cannot run the CLI on the server.  Any account's
credentials open them: the policy is the deployment's, but its errors name files and
lines on the server, which strangers have no business reading.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.api.common import authenticate, read_form
from gateway.errors import BadRequest, BodyRequired, PolicyUnavailable
from gateway.policy.evaluate import evaluate
from gateway.policy.model import Mode
from gateway.policy.watcher import PolicyState

DEMO_VARIABLES = {"brand": "Example", "help_contact": "help.example.com"}


async def show(request: Request) -> JSONResponse:
    await authenticate(request)
    state: PolicyState = request.app.state.policy
    matcher = state.matcher
    return JSONResponse(
        {
            "revision": matcher.revision if matcher else None,
            "languages": list(matcher.policy.languages) if matcher else [],
            "countries": sorted(matcher.policy.countries) if matcher else [],
            "mode": matcher.policy.mode.value if matcher else None,
            "errors": [str(e) for e in state.errors],
            "warnings": [str(w) for w in state.warnings],
            "notes": [str(n) for n in state.notes],
        }
    )


async def test(request: Request) -> JSONResponse:
    await authenticate(request)
    form = await read_form(request)
    body = form.get("Body")
    if body is None:
        raise BodyRequired("A 'Body' parameter is required.")
    mode = form.get("Mode")
    if mode is not None and mode not in {m.value for m in Mode}:
        raise BadRequest(f"Mode must be 'exact' or 'reasonable', not {mode!r}.")
    state: PolicyState = request.app.state.policy
    if state.matcher is None or state.catalogs is None:
        raise PolicyUnavailable("No valid policy revision is loaded.")
    variables = DEMO_VARIABLES | {
        k: value for k, v in (("brand", "Brand"), ("help_contact", "HelpContact")) if (value := form.get(v))
    }
    return JSONResponse(
        evaluate(state.matcher, state.catalogs, body, form.get("From"), Mode(mode) if mode else None, variables)
    )
