"""`gateway explain`: what a send would do and why, or why a sent message went as it did.

Compliance staff and support answer "why did (or didn't) this person get this message?" from
the gateway's own machine, with no API credentials: the command reads the database the
gateway uses and runs the same `Core.explain` as `POST /v1/Messages/Explain` (the send's own
gates, routing and encoding, writing nothing), or prints the reasons a sent message recorded,
as `GET /v1/Messages/{Sid}/Explain` does.  One thing only a running gateway knows is missing
here: which providers it currently finds unhealthy (routing passes their senders over).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from gateway.settings import Settings

DESCRIPTION = """\
Explain a send before it happens: each gate's verdict (valid number, route, geo permissions,
opt-out and its scope, quiet hours, sender ID, queue) with the policy file:line or setting
that decided it, the sender routing would pick and its rule, the encoding and segments, and
whether the message would go out now, be held until a time or be refused with a code.
Nothing is written.

With --message, print instead the reasons a sent message recorded when it was sent.

It reads the gateway's database (GATEWAY_DATABASE_URL) and policy files (GATEWAY_POLICIES_DIR),
not a running gateway: which providers that gateway finds unhealthy right now (routing passes
their senders over) is not known here."""

EPILOG = """\
exit status: 0 the message goes (or went) out or is held; 1 it is (or was) refused;
2 the request cannot be explained (bad parameter, unknown account, service or message).

examples:
  gateway explain --account AC… --service MG… --to +12125550100 --body "Sale today"
  gateway explain --account AC… --service MG… --to +12125550100 --body "Sale today" \\
      --param TrafficType=marketing --at 2026-12-04T21:30:00-05:00
  gateway explain --account AC… --message SM… --json"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `explain` to the `gateway` command."""
    explain = commands.add_parser(
        "explain",
        help="show what a send would do and why (or why a sent message went as it did)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument(
        "--account",
        required=True,
        metavar="AC…",
        help="the account that sends; an explanation never looks at another account",
    )
    explain.add_argument(
        "--message",
        metavar="SM…",
        help="explain this sent message from the reasons it recorded (the send options are not used)",
    )
    explain.add_argument("--to", metavar="NUMBER", help="To: the recipient, E.164 or whatsapp:+E164")
    explain.add_argument("--from", dest="sender", metavar="SENDER", help="From: a sender of the account")
    explain.add_argument(
        "--service", metavar="MG…", help="MessagingServiceSid: the service whose pool chooses the sender"
    )
    explain.add_argument("--body", default="", help="Body: the text (decides the encoding and segments)")
    explain.add_argument("--media-url", action="append", default=[], metavar="URL", help="MediaUrl (repeatable)")
    explain.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any other send parameter as the API spells it (repeatable): ValidityPeriod=600, "
        "SmartEncoded=false, TrafficType=marketing, ScheduleType=fixed, SendAt=…",
    )
    explain.add_argument(
        "--at",
        metavar="ISO8601",
        help="decide at this moment, with its UTC offset, e.g. 2026-12-04T21:30:00-05:00 (default: now)",
    )
    explain.add_argument("--json", action="store_true", help="print the JSON the API answers instead of text")
    explain.set_defaults(handler=explain_command)


def explain_command(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from gateway.dispatch import explain
    from gateway.errors import GatewayError
    from gateway.store.db import make_engine
    from gateway.store.messages import account_message
    from gateway.store.tables import Account

    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            if session.get(Account, args.account) is None:
                return _fail(f"there is no account {args.account}")
            if args.message:
                message = account_message(session, args.account, args.message)
        if args.message:
            if message is None or message.reasons is None:
                return _fail(
                    f"account {args.account} has no message {args.message} with recorded reasons "
                    "(inbound messages have none)"
                )
            answer = explain.for_message(message)
        else:
            try:
                answer = _explain_send(args, settings, engine)
            except GatewayError as exc:
                return _fail(f"{exc.code}: {exc.message}")
    finally:
        engine.dispose()
    _emit(json.dumps(answer, indent=2, ensure_ascii=False) + "\n" if args.json else explain.render(answer))
    return 1 if answer["outcome"]["action"] == "refuse" else 0


def _emit(text: str) -> None:
    """Print `text`; a reader that stopped early (`gateway explain --json | head`) is no error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would flush stdout again at exit and print a traceback: point it at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _explain_send(args: argparse.Namespace, settings: Settings, engine: Any) -> dict[str, Any]:
    """The API's own parameter checks (`send_request`), then `Core.explain` in a writer of its own,
    as a gateway process runs it; raises the `GatewayError` a bad parameter gets."""
    from sqlmodel import Session

    from gateway.api.common import Form
    from gateway.api.messages import send_request
    from gateway.dates import parse_iso8601, utcnow
    from gateway.dispatch import explain
    from gateway.errors import BadRequest, NotFound, PolicyUnavailable, ServiceNotFound
    from gateway.orchestration.core import Core
    from gateway.outbox.backlog import Backlog, StickyLoad
    from gateway.policy.watcher import PolicyState
    from gateway.store.writer import Writer

    pairs = [
        (name, value)
        for name, value in (
            ("To", args.to),
            ("From", args.sender),
            ("MessagingServiceSid", args.service),
            ("Body", args.body),
        )
        if value
    ]
    pairs += [("MediaUrl", url) for url in args.media_url]
    for param in args.param:
        name, equals, value = param.partition("=")
        if not equals or not name:
            raise BadRequest(f"--param takes NAME=VALUE, not {param!r}.")
        pairs.append((name, value))
    try:
        at = parse_iso8601(args.at) if args.at else None
    except ValueError:
        raise BadRequest(f"--at must be an ISO 8601 date and time with its UTC offset, not {args.at!r}.") from None
    send = send_request(args.account, Form(pairs), settings, at or utcnow())
    policy = PolicyState(settings.policies_dir, settings.locales_dir)
    if policy.reload().policy is None:
        raise PolicyUnavailable(f"the policy files in {settings.policies_dir} have errors: run `gateway policy check`")
    writer = Writer(engine)
    core = Core(writer, Backlog(), StickyLoad(), policy)
    with Session(engine) as session:
        core.backlog.load(session)
    writer.start()
    try:
        reasons = asyncio.run(core.explain(send, at))
    except ServiceNotFound:
        raise NotFound(f"account {args.account} has no Messaging Service {args.service}") from None
    finally:
        writer.stop()
    return explain.for_request(send, reasons)


def _fail(message: str) -> int:
    print(f"gateway explain: {message}", file=sys.stderr)
    return 2
