"""The baseline the benchmarks divide by: a bare Starlette handler that reads a form and answers JSON."""

from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def accept(request: Request) -> JSONResponse:
    form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
    return JSONResponse({"received": len(form)}, status_code=201)


app = Starlette(routes=[Route("/{path:path}", accept, methods=["POST"])])
