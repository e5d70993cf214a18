"""The baselines the benchmarks divide by: a bare Starlette handler that reads a form and answers JSON
(POST), and one that answers a redirect (GET, for the short links' redirect)."""

from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route


async def accept(request: Request) -> JSONResponse:
    form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
    return JSONResponse({"received": len(form)}, status_code=201)


async def redirect(request: Request) -> RedirectResponse:
    return RedirectResponse("https://shop.example.com/offers/spring-sale", status_code=302)


app = Starlette(
    routes=[Route("/{path:path}", accept, methods=["POST"]), Route("/{path:path}", redirect, methods=["GET"])]
)
