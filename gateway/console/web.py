"""What every console page shares: sign-in, the CSRF defence, the language, rendering and headers.

Sign-in is HTTP Basic with the account's AccountSid and AuthToken, checked exactly as the API
checks them (`api.common.signed_in`), failures counted against the same budgets.  Without them
every console URL, stylesheet included, answers 401 with `WWW-Authenticate`, so the browser asks;
nothing is readable before that.  An address past its budget of failures gets the API's 429
(Twilio's JSON, `Retry-After`), not the prompt again.

Forms that change something (opt-out, opt-in, replay) are POSTs carrying a token tied to the
credentials: an HMAC of the AccountSid under the account's AuthToken.  A browser sends Basic
credentials along with any request to the gateway, a forged cross-site one included, but another
site cannot read our pages, so it cannot know the token; the token also changes with the
AuthToken.  A POST whose `Origin` (sent by every current browser) names another site is refused
as well, before the token is even looked at.  GET never changes anything.

Pages carry a strict Content-Security-Policy (our own stylesheet, no inline script), are never
cached (they hold phone numbers), may not be framed, send a Referer only to the gateway itself
(URLs carry numbers), and say in `Server-Timing` how long the server took (`app;dur=`
milliseconds), which the benchmark reads.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

from babel.numbers import format_decimal, format_percent
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.api.common import read_body, signed_in
from gateway.console.i18n import COOKIE, Languages
from gateway.errors import AuthenticationFailed, GatewayError
from gateway.store import reads

P = ParamSpec("P")
T = TypeVar("T")
REALM = "optout-gateway console"
MAX_FORM = 64 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send `Origin: null` with our forms
    "Cache-Control": "no-store",
    "Vary": "Authorization, Accept-Language, Cookie",
}


@dataclass
class Page:
    """One console request, signed in: who, in which language, and how to answer."""

    request: Request
    account_sid: str
    auth_token: str
    language: str
    languages: Languages

    async def read(self, fn: Callable[Concatenate[Session, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(session, ...)` off the event loop (`store.reads`): the only way pages read the database."""
        return await reads.read(self.request.app.state.engine, fn, *args, **kwargs)

    @property
    def csrf(self) -> str:
        return csrf_token(self.account_sid, self.auth_token)

    def gettext(self, message: str, **values: Any) -> str:
        text = self.languages.translations(self.language).gettext(message)
        return text % values if values else text

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        environment = self.languages.environment(self.language)
        html = environment.get_template(template).render(
            page=self,
            language=self.language,
            languages=sorted(self.languages.available()),
            path=self.request.url.path,
            query=dict(self.request.query_params),
            number=self.number,
            percent=self.percent,
            url=url,
            **values,
        )
        return HTMLResponse(html, status_code=status)

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        return str(
            format_decimal(
                round(value, digits), format="#,##0" + ("." + "0" * digits if digits else ""), locale=self.language
            )
        )

    def percent(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return "—"
        return str(format_percent(value, format="#,##0." + "0" * digits + "%", locale=self.language))


def url(path: str, **params: Any) -> str:
    """A console URL with its query, leaving out empty parameters."""
    query = urlencode([(k, v) for k, v in params.items() if v not in (None, "")])
    return f"{path}?{query}" if query else path


def csrf_token(account_sid: str, auth_token: str) -> str:
    return hmac.new(auth_token.encode(), f"console-csrf:{account_sid}".encode(), hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """False when the browser says the request came from another site (Origin or Sec-Fetch-Site).
    An origin is scheme, host and port: `https://host:port` is another site than `http://host:port`
    (RFC 6454), so the scheme is compared too, with the scheme the console was reached by (or the
    public URL's, behind a proxy that ends TLS)."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin")
    if origin is None:  # not sent by a browser's cross-site form: every current browser sends Origin there
        return True
    ours = {_origin(request.url.scheme, request.headers.get("host", ""))}
    public = request.app.state.settings.public_url
    if public:
        parts = urlsplit(public)
        ours.add(_origin(parts.scheme, parts.netloc))
    parts = urlsplit(origin)
    return _origin(parts.scheme, parts.netloc) in ours


def _origin(scheme: str, netloc: str) -> tuple[str, str]:
    """An origin to compare: the scheme and host in lower case, the scheme's default port left out."""
    scheme, netloc = scheme.lower(), netloc.lower()
    default = _DEFAULT_PORTS.get(scheme)
    return scheme, netloc.removesuffix(default) if default else netloc


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def console_languages(request: Request) -> Languages:
    """The app's console catalogs, made on first use from the app's locales directory."""
    languages: Languages | None = getattr(request.app.state, "console_languages", None)
    if languages is None:
        languages = request.app.state.console_languages = Languages(request.app.state.settings.locales_dir)
    return languages


Handler = Callable[[Page], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a console handler: sign-in, language, the CSRF check on POST, errors as pages, headers."""

    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        languages = console_languages(request)
        language = languages.choose(
            request.query_params.get("lang"), request.cookies.get(COOKIE), request.headers.get("accept-language")
        )
        response = await _answer(request, handler, languages, language)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        if request.query_params.get("lang") == language and request.cookies.get(COOKIE) != language:
            response.set_cookie(COOKIE, language, max_age=365 * 86400, path="/console", httponly=True, samesite="lax")
        return response

    return endpoint


async def _answer(request: Request, handler: Handler, languages: Languages, language: str) -> Response:
    accounts = request.app.state.accounts
    try:
        account_sid = await signed_in(request)
    except AuthenticationFailed:
        html = languages.environment(language).get_template("signin.html").render(language=language)
        return HTMLResponse(
            html, status_code=401, headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
        )
    current = Page(request, account_sid, await accounts.current_token(account_sid) or "", language, languages)
    if request.method == "POST":
        refusal = await _refuse_forgery(current)
        if refusal is not None:
            return refusal
    try:
        return await handler(current)
    except GatewayError as exc:
        return current.render("error.html", status=exc.status, message=exc.message)


async def _refuse_forgery(current: Page) -> Response | None:
    request = current.request
    if not same_origin(request):
        return current.render(
            "error.html",
            status=403,
            message=current.gettext("This form was sent from another site; nothing was changed."),
        )
    form = await read_form(request)
    if not hmac.compare_digest(form.get("csrf", ""), current.csrf):
        return current.render(
            "error.html",
            status=403,
            message=current.gettext(
                "This form is out of date or was not sent from the console; nothing was changed. Reload the page "
                "and try again."
            ),
        )
    return None


async def read_form(request: Request) -> Mapping[str, str]:
    """The POST's fields (the first of each name); bodies over 64 KiB are refused."""
    cached = request.scope.get("console.form")
    if cached is not None:
        return dict(cached)
    body = await read_body(request, MAX_FORM, "The form is too large.")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    request.scope["console.form"] = fields
    return fields


def see_other(location: str) -> RedirectResponse:
    """After a POST, go back to a page with GET (the browser's reload then changes nothing)."""
    return RedirectResponse(location, status_code=303)
