"""The policy tester: what a message from a number would do, in exact and reasonable mode side by side.

The decision is `policy.evaluate.evaluate`, the same as `gateway policy test` and
`/v1/Policy/Test`.  The reply is shown exactly as it would be sent: rendered with the brand and
help contact the inbound pipeline would use for the number written to (its service's `Brand`,
else FriendlyName; `HelpContact`, else the number itself), passed through the service's Smart
Encoding, then counted by `encoding.segment`.  Without a number of the account to write to, the
demo brand of `/v1/Policy/Test` is used.

("Why did or didn't this person get this message" is the send-explain API's answer, before a send,
and the message page's after it: the page points there.)
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.responses import Response

from gateway.api.policy import DEMO_VARIABLES
from gateway.console.numbers import guess_regions, read_number
from gateway.console.web import Page
from gateway.encoding import segment
from gateway.policy.evaluate import country_of, evaluate
from gateway.policy.model import Mode
from gateway.policy.watcher import PolicyState
from gateway.store import senders as registry
from gateway.store.tables import Service

MAX_TEXT = 1600


def decide(
    state: PolicyState, text: str, sender: str | None, mode: Mode, variables: dict[str, str], smart: bool
) -> dict[str, Any]:
    """`evaluate`'s answer, with how sure the match was and the reply as sent (text, encoding, segments)."""
    assert state.matcher is not None and state.catalogs is not None
    result = evaluate(state.matcher, state.catalogs, text, sender, mode, variables)
    match = state.matcher.table(country_of(sender)).match(text, mode)
    found = getattr(match, "found", None)
    result["found"] = getattr(found, "value", found)
    result["account_wide"] = bool(getattr(match, "account_wide", False))
    if result["reply"] is not None:
        sent = segment(result["reply"], smart=smart)
        result.update(sent_text=sent.text, encoding=sent.encoding, segments=sent.segments, characters=sent.characters)
    return result


async def show(page: Page) -> Response:
    params = page.request.query_params
    text = params.get("text", "")[:MAX_TEXT]
    typed_from = params.get("from", "").strip()
    state: PolicyState = page.request.app.state.policy
    senders, countries, to, service = await page.read(_read, page.account_sid, params.get("to"))
    guesses = read_number(typed_from, guess_regions(None, page.request.headers.get("accept-language"), countries))
    sender = guesses[0] if guesses else None
    error = None
    if typed_from and sender is None:
        error = page.gettext("%(number)s is not a valid phone number.", number=typed_from)
    results = None
    if text and error is None and state.matcher is not None:
        variables = _variables(to if any(s.address == to for s in senders) else None, service)
        smart = bool(service and service.smart_encoding)
        results = [(mode.value, decide(state, text, sender, mode, variables, smart)) for mode in Mode]
    return page.render(
        "tester.html",
        text=text,
        typed_from=typed_from,
        sender=sender,
        to=to,
        senders=senders,
        results=results,
        error=error,
        service=service,
    )


def _read(session: Session, account_sid: str, to: str | None) -> tuple[list[Any], list[str], str, Service | None]:
    """The account's senders that receive, its senders' countries, the number written to (the
    first sender's unless `to` is given) and its service, if any."""
    senders = [s for s in registry.senders(session, account_sid) if s.kind != "alpha"]
    to = to if to is not None else senders[0].address if senders else ""
    chosen = next((s for s in senders if s.address == to), None)
    service = registry.service(session, chosen.service_sid) if chosen is not None and chosen.service_sid else None
    return senders, registry.sender_countries(session, account_sid), to, service


def _variables(to: str | None, service: Service | None) -> dict[str, str]:
    """What the inbound pipeline fills a confirmation with (`orchestration.inbound._confirm`)."""
    if to is None:
        return dict(DEMO_VARIABLES)
    return {
        "brand": (service.brand or service.friendly_name) if service else to,
        "help_contact": (service.help_contact if service else None) or to,
    }
