"""The `gateway` command: the same functions as the HTTP edges, for operators and staff."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from gateway.cli_explain import register as register_explain
from gateway.cli_optouts import register as register_optouts
from gateway.encoding import segment
from gateway.errors import SettingsError
from gateway.locales import Catalogs
from gateway.observability import logs
from gateway.observability.multiproc import metrics_directory
from gateway.policy.evaluate import evaluate
from gateway.policy.loader import load_policies
from gateway.policy.matcher import Matcher
from gateway.policy.model import Mode
from gateway.providers import MODULES
from gateway.settings import Settings, load_settings
from gateway.shipped import NotEmpty, Shipped, copy_to
from gateway.store.db import MigrationBlocked
from gateway.tokens import token_cipher

log = logging.getLogger("gateway.cli")
#: `serve --workers N` runs, by default, one process per core, up to this many.
MAX_DEFAULT_PROCESSES = 4


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        # `policy init` makes the folders GATEWAY_POLICIES_DIR / GATEWAY_LOCALES_DIR may already name
        settings = load_settings() if getattr(args, "reads_settings", True) else Settings()
    except SettingsError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    try:
        result: int = args.handler(args, settings)
    except MigrationBlocked as exc:
        print(f"gateway: the database cannot be migrated: {exc}", file=sys.stderr)
        return 1
    except SettingsError as exc:  # found when first needed (the key of the auth tokens)
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="optout-gateway: opt-out compliance and routing")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply migrations and run the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--demo",
        action="store_true",
        help="turn the provider simulator on, make sure a demo account with a simulated sender "
        "exists and print its credentials (what `make run` does)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"HTTP processes on one port (default: one per core, at most {MAX_DEFAULT_PROCESSES}; 1 with "
        "GATEWAY_WORKER_ID); each also runs dispatch and forwarding unless GATEWAY_WORKERS=false",
    )
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", help="run dispatch and forwarding without HTTP (scale-out)")
    worker.set_defaults(handler=_worker)

    accounts = commands.add_parser("accounts", help="manage accounts").add_subparsers(required=True, metavar="ACTION")
    create = accounts.add_parser("create", help="create an account and print its credentials")
    create.add_argument("--name", default="")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(handler=_accounts_create)
    rotate = accounts.add_parser("rotate-token", help="give an account a new auth token and print it")
    rotate.add_argument("account_sid", metavar="ACCOUNT_SID")
    rotate.add_argument(
        "--grace",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds the old token keeps authenticating (default 0: refused at once)",
    )
    rotate.add_argument("--json", action="store_true", help="print one JSON object")
    rotate.set_defaults(handler=_accounts_rotate_token)
    reencrypt = accounts.add_parser(
        "reencrypt",
        help="encrypt every stored auth token again with the first key of GATEWAY_SECRET_KEY (after adding a key)",
    )
    reencrypt.set_defaults(handler=_accounts_reencrypt)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(handler=_migrate)

    policy = commands.add_parser("policy", help="check and try the policy files").add_subparsers(
        required=True, metavar="ACTION"
    )
    init = policy.add_parser(
        "init", help="copy the shipped policy files to DIR for editing (serve them with GATEWAY_POLICIES_DIR=DIR)"
    )
    init.add_argument("directory", metavar="DIR", type=Path, help="a new or empty folder")
    init.add_argument(
        "--locales",
        metavar="LDIR",
        type=Path,
        help="also copy the shipped translations to LDIR (serve them with GATEWAY_LOCALES_DIR=LDIR)",
    )
    init.set_defaults(handler=_policy_init, reads_settings=False)
    check = policy.add_parser("check", help="validate the policy files (exit 1 on errors)")
    check.add_argument("directory", nargs="?", type=Path)
    check.set_defaults(handler=_policy_check)
    test = policy.add_parser("test", help="show what a message would do")
    test.add_argument("text", nargs="?")
    test.add_argument("--from", dest="sender", help="the sender's number in E.164 (decides the country)")
    test.add_argument("--mode", choices=[m.value for m in Mode])
    test.add_argument("--batch", metavar="FILE", help="JSON lines {from, body, mode[, expect]}; - for stdin")
    test.add_argument("--expect", action="store_true", help="exit 1 when a line's result differs from its expect")
    test.add_argument("--brand", default="Example", help="brand name used to render replies")
    test.add_argument("--help-contact", default="help.example.com", help="help contact used to render replies")
    test.set_defaults(handler=_policy_test)

    sim = commands.add_parser("sim", help="drive the built-in provider simulator").add_subparsers(
        required=True, metavar="ACTION"
    )
    sim_inbound = sim.add_parser("inbound", help="post a signed inbound message to a running gateway")
    sim_inbound.add_argument("--from", dest="sender", required=True, help="the person's number, E.164")
    sim_inbound.add_argument("--to", required=True, help="one of the gateway's numbers")
    sim_inbound.add_argument("body")
    sim_inbound.add_argument("--url", help="the gateway's base URL (default: GATEWAY_PUBLIC_URL or host:port)")
    sim_inbound.add_argument(
        "--token",
        help="the simulator's token (default: GATEWAY_SIMULATOR_TOKEN, else the one "
        "`gateway serve` wrote beside the SQLite database)",
    )
    sim_inbound.set_defaults(handler=_sim_inbound)

    providers = commands.add_parser("providers", help="list the providers and what each still needs")
    providers.set_defaults(handler=_providers)

    deliveries = commands.add_parser("deliveries", help="app deliveries that gave up").add_subparsers(
        required=True, metavar="ACTION"
    )
    dead = deliveries.add_parser("dead", help="list dead letters as JSON lines")
    dead.add_argument("--account", help="only this AccountSid")
    dead.set_defaults(handler=_deliveries_dead)
    again = deliveries.add_parser("replay", help="queue dead letters again")
    again.add_argument("ids", nargs="*", type=int, help="dead letter ids (none: all)")
    again.add_argument("--account", help="only this AccountSid")
    again.set_defaults(handler=_deliveries_replay)

    register_optouts(commands)
    register_explain(commands)

    segments = commands.add_parser("segments", help="count SMS segments of a text")
    segments.add_argument("text")
    segments.add_argument("--smart", action="store_true", help="apply Twilio-style smart encoding first")
    segments.set_defaults(handler=_segments)
    return parser


def _version() -> str:
    """The installed distribution's version (run from a checkout that was never installed: none)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("optout-gateway")
    except PackageNotFoundError:
        return "(not installed)"


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import os
    import secrets

    import uvicorn

    settings = settings.with_(host=args.host or settings.host, port=args.port or settings.port)
    processes = args.workers if args.workers is not None else default_processes(settings)
    if processes < 1:
        print("gateway: --workers must be at least 1", file=sys.stderr)
        return 2
    if processes > 1 and settings.workers and settings.worker_id:
        print(
            "gateway: GATEWAY_WORKER_ID names one worker; with --workers N > 1 every process would share it "
            "(leave it unset, or run `gateway worker` processes with a name each)",
            file=sys.stderr,
        )
        return 2
    _log_setup(settings)
    token_cipher(settings)  # no key for the auth tokens: say so before any process starts
    listener = _listen(settings.host, settings.port)  # before any banner: a busy port prints no credentials
    if listener is None:
        return 1
    metrics_directory(settings, serving=True)
    from gateway.app import create_app  # imports prometheus_client: only now that its directory is chosen
    from gateway.store.db import ServeLocked, serve_lock

    try:
        serve_lock(settings.database_url)  # held until this process ends
    except ServeLocked as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    _migrate_database(settings)
    if processes > 1 and settings.embedded and settings.workers:
        from gateway.runtime import take_back_everything

        take_back_everything(settings)
    if args.demo:
        settings = settings.with_(simulator=True)
    if settings.simulator:
        settings = _simulator_token(settings)
    if args.demo:
        from gateway.demo import DEMO_CALLBACKS, ensure_demo

        settings = settings.with_(
            metrics_token=settings.metrics_token or secrets.token_urlsafe(18),
            callback_allow_networks=settings.callback_allow_networks or DEMO_CALLBACKS,
        )
        print(ensure_demo(settings), flush=True)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": False,
        "log_config": None,
    }  # uvicorn's lines through the gateway's
    log.info("Listening on %s", settings.local_url)  # a log line: JSON under GATEWAY_LOG_FORMAT=json
    if processes == 1:
        uvicorn.Server(uvicorn.Config(create_app(settings), **options)).run(sockets=[listener])
        return 0
    # Each process builds its app from the environment: pass the command line's choices on.
    os.environ.update(
        GATEWAY_HOST=settings.host,
        GATEWAY_PORT=str(settings.port),
        GATEWAY_SIMULATOR=str(settings.simulator).lower(),
        GATEWAY_API_PROCESSES=str(processes),
    )
    if settings.simulator_token:
        os.environ["GATEWAY_SIMULATOR_TOKEN"] = settings.simulator_token
    if settings.metrics_token:
        os.environ["GATEWAY_METRICS_TOKEN"] = settings.metrics_token
    if settings.callback_allow_networks:
        os.environ["GATEWAY_CALLBACK_ALLOW_NETWORKS"] = settings.callback_allow_networks
    from uvicorn.supervisors import Multiprocess

    Multiprocess(
        uvicorn.Config("gateway.app:from_environment", factory=True, workers=processes, **options),
        sockets=[listener],
    ).run()
    return 0


def default_processes(settings: Settings) -> int:
    """One process per core this process may run on, so that HTTP and the writes of one process
    no longer take turns on one core (on SQLite too: the processes queue for its write lock, see
    `store.db.WriteLock`); one when GATEWAY_WORKER_ID names the worker."""
    import os

    if settings.worker_id:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_PROCESSES))


def _providers(args: argparse.Namespace, settings: Settings) -> int:
    """One line per registered provider: ready (it can send and its webhooks are verified, so its
    numbers may be registered), or the variables still to set."""
    unusable = settings.unusable_providers()
    for name in sorted(MODULES):
        print(f"{name}: {f'set {unusable[name]}' if name in unusable else 'ready'}")
    return 0


def _listen(host: str, port: int) -> Any:
    """The server's socket, bound (uvicorn listens on it); None, having said why, when the address is taken."""
    import socket

    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        print(f"gateway serve: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return None
    listener.set_inheritable(True)  # the --workers processes serve it too
    return listener


def _simulator_token(settings: Settings) -> Settings:
    """A fresh random token per start unless GATEWAY_SIMULATOR_TOKEN names one, left (owner-only)
    beside the SQLite file so that `gateway sim inbound` can sign with it."""
    import os
    import secrets

    given = settings.simulator_token is not None
    if not given:
        settings = settings.with_(simulator_token=secrets.token_urlsafe(18))
    path = settings.simulator_token_file
    if path is not None:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(settings.simulator_token or "")
    # A log line, never the token itself: logs travel further than the owner-only file.
    log.info(
        "provider simulator on at /sim; it signs with %s",
        f"the token in {path}"
        if path is not None
        else "GATEWAY_SIMULATOR_TOKEN"
        if given
        else "a random token (set GATEWAY_SIMULATOR_TOKEN to sign with it)",
    )
    return settings


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    if settings.embedded:
        print(
            "gateway: `gateway worker` needs PostgreSQL (GATEWAY_DATABASE_URL=postgresql+psycopg://...); "
            "on SQLite the processes of `gateway serve [--workers N]` run dispatch and forwarding themselves",
            file=sys.stderr,
        )
        return 2
    _log_setup(settings)
    token_cipher(settings)  # no key for the auth tokens: say so before anything starts
    metrics_directory(settings, serving=False)
    from gateway.runtime import run_worker  # imports prometheus_client: only now that its directory is chosen

    _migrate_database(settings)
    asyncio.run(run_worker(settings))
    return 0


def _log_setup(settings: Settings) -> None:
    logs.configure(settings.log_format)


@contextmanager
def _accounts(settings: Settings) -> Iterator[Any]:
    """The deployment's accounts, on a database brought up to date (its tokens sealed)."""
    from gateway.accounts import Accounts
    from gateway.store.db import make_engine

    cipher = token_cipher(settings)
    _migrate_database(settings)
    engine = make_engine(settings.database_url)
    try:
        yield Accounts(engine, cipher)
    finally:
        engine.dispose()


def _print_credentials(issued: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"account_sid": issued.sid, "auth_token": issued.auth_token}))
    else:
        print(f"account_sid {issued.sid}\nauth_token  {issued.auth_token}")


def _accounts_create(args: argparse.Namespace, settings: Settings) -> int:
    with _accounts(settings) as accounts:
        _print_credentials(accounts.create(args.name), args.json)
    return 0


def _accounts_rotate_token(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from gateway.accounts import CACHE_SECONDS
    from gateway.errors import NotFound

    if args.grace < 0:
        print("gateway: --grace must not be negative", file=sys.stderr)
        return 2
    try:
        with _accounts(settings) as accounts:
            issued = accounts.rotate(args.account_sid, timedelta(seconds=args.grace))
    except NotFound:
        print(f"gateway: no account {args.account_sid}", file=sys.stderr)
        return 1
    _print_credentials(issued, args.json)
    print(
        f"running gateways take the new token within {CACHE_SECONDS:g} s; the old one "
        + (f"authenticates for {args.grace:g} s more" if args.grace else "no longer authenticates"),
        file=sys.stderr,
    )
    return 0


def _accounts_reencrypt(args: argparse.Namespace, settings: Settings) -> int:
    with _accounts(settings) as accounts:
        print(f"{accounts.reencrypt()} auth tokens encrypted with the first key")
    return 0


def _migrate_database(settings: Settings) -> None:
    """Migrate, with the key at hand for migrations that seal stored tokens (made only if needed)."""
    from gateway.store.db import migrate

    migrate(settings.database_url, token_cipher=lambda: token_cipher(settings))


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    _migrate_database(settings)
    print(f"database at {settings.database_url} is up to date")
    return 0


def _policy_init(args: argparse.Namespace, settings: Settings) -> int:
    copies: dict[Shipped, Path] = {"policies": args.directory}
    if args.locales is not None:
        copies["locales"] = args.locales
    try:
        copy_to(copies)
    except NotEmpty as exc:
        print(
            f"gateway policy init: {exc}; nothing copied (no file is ever overwritten: choose a new folder)",
            file=sys.stderr,
        )
        return 1
    print(
        f"copied the shipped policies to {args.directory}: edit them there, check them with "
        f"`gateway policy check {args.directory}`, serve them with GATEWAY_POLICIES_DIR={args.directory}"
    )
    if args.locales is not None:
        print(f"copied the shipped translations to {args.locales}: serve them with GATEWAY_LOCALES_DIR={args.locales}")
    return 0


def _policy_check(args: argparse.Namespace, settings: Settings) -> int:
    directory = args.directory or settings.policies_dir
    result = load_policies(directory, Catalogs.load(settings.locales_dir))
    for note in result.notes:
        print(f"note: {note}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    for error in result.errors:
        print(f"error: {error}")
    if result.policy is None:
        print(f"{directory}: {len(result.errors)} errors, {len(result.warnings)} warnings", file=sys.stderr)
        return 1
    policy = result.policy
    print(
        f"{directory}: valid, revision {policy.revision}, {len(policy.languages)} languages, "
        f"{len(policy.countries)} countries, {len(result.warnings)} warnings, {len(result.notes)} notes"
    )
    return 0


def _policy_test(args: argparse.Namespace, settings: Settings) -> int:
    catalogs = Catalogs.load(settings.locales_dir)
    result = load_policies(settings.policies_dir, catalogs)
    if result.policy is None:
        for error in result.errors:
            print(f"error: {error}", file=sys.stderr)
        return 1
    tester = _Tester(Matcher(result.policy), catalogs, {"brand": args.brand, "help_contact": args.help_contact})
    if args.batch is None:
        if args.text is None:
            print("gateway policy test: give TEXT or --batch FILE", file=sys.stderr)
            return 2
        print(json.dumps(tester.test(args.text, args.sender, args.mode), ensure_ascii=False))
        return 0
    source: TextIO = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8")
    with source:
        return tester.batch(source, sys.stdout, check=args.expect)


class _Tester:
    def __init__(self, matcher: Matcher, catalogs: Catalogs, variables: dict[str, str]) -> None:
        self.matcher, self.catalogs, self.variables = matcher, catalogs, variables

    def test(self, text: str, sender: str | None, mode: str | None) -> dict[str, Any]:
        return evaluate(self.matcher, self.catalogs, text, sender, Mode(mode) if mode else None, self.variables)

    def batch(self, lines: Iterable[str], out: TextIO, *, check: bool) -> int:
        failures = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
                if not isinstance(case, dict) or not isinstance(case.get("body"), str):
                    raise ValueError("each line must be a JSON object with a string 'body'")
                if case.get("mode") not in (None, *[m.value for m in Mode]):
                    raise ValueError(f"mode must be exact or reasonable, not {case['mode']!r}")
            except ValueError as exc:
                out.write(json.dumps({"line": number, "error": str(exc)}) + "\n")
                failures += 1
                continue
            result = self.test(case["body"], case.get("from"), case.get("mode"))
            expect = case.get("expect")
            if check and isinstance(expect, dict):
                differences = {
                    key: {"expected": value, "got": result.get(key)}
                    for key, value in expect.items()
                    if result.get(key) != value
                }
                if differences:
                    result = dict(result, line=number, differences=differences)
                    failures += 1
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
        if failures:
            print(f"{failures} line(s) failed", file=sys.stderr)
        return 1 if failures else 0


def _sim_inbound(args: argparse.Namespace, settings: Settings) -> int:
    """What a carrier would post for a person's text, signed with the simulator's token."""
    import uuid

    import httpx2

    from gateway.providers.twilio import compute_signature
    from gateway.runtime import http_timeout

    base = (args.url or settings.public_url or settings.local_url).rstrip("/")
    url = f"{base}/webhooks/sim/inbound"
    params = [
        ("MessageSid", "SM" + uuid.uuid4().hex),
        ("AccountSid", "AC" + "0" * 32),
        ("From", args.sender),
        ("To", args.to),
        ("Body", args.body),
        ("NumMedia", "0"),
        ("SmsStatus", "received"),
        ("ApiVersion", "2010-04-01"),
    ]
    token = args.token or settings.simulator_token
    path = settings.simulator_token_file
    if not token and path is not None and path.exists():
        token = path.read_text().strip()
    if not token:
        print(
            "gateway sim inbound: no simulator token: start the gateway with `gateway serve --demo` (it writes "
            f"{path or 'the token beside an SQLite database'}), or pass --token / GATEWAY_SIMULATOR_TOKEN",
            file=sys.stderr,
        )
        return 2
    signature = compute_signature(url, params, token)
    try:
        response = httpx2.post(
            url, data=dict(params), headers={"X-Twilio-Signature": signature}, timeout=http_timeout(settings)
        )
    except httpx2.HTTPError as exc:
        print(f"gateway sim inbound: {url}: {exc}", file=sys.stderr)
        return 1
    if response.status_code == 200:
        print(f"{response.status_code} {response.text}")
        return 0
    # Refused: say by whom, since a gateway on another port (or another gateway) may be the one that answered.
    print(f"gateway sim inbound: {url} answered {response.status_code} {response.text}", file=sys.stderr)
    if response.status_code == 403:
        print(
            "gateway sim inbound: is the gateway you started listening there, with this simulator token? "
            "`gateway serve --demo` prints the `sim inbound` line for its own address; or pass --url and --token",
            file=sys.stderr,
        )
    return 1


def _deliveries_dead(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from gateway.forwarding.dead_letters import dead_letter_json, list_dead
    from gateway.store.db import make_engine

    with Session(make_engine(settings.database_url)) as session:
        after = None
        while rows := list_dead(session, args.account, after=after, limit=500):
            for row in rows:
                print(json.dumps(dead_letter_json(row), ensure_ascii=False))
            after = rows[-1].id
    return 0


def _deliveries_replay(args: argparse.Namespace, settings: Settings) -> int:
    """A running gateway picks replayed letters up within its next outbox read."""
    from gateway.forwarding.dead_letters import replay
    from gateway.store.db import make_engine, unit_of_work

    with unit_of_work(make_engine(settings.database_url)) as session:
        count = replay(session, args.account, args.ids or None)
    print(f"{count} dead letter(s) queued again")
    return 0


def _segments(args: argparse.Namespace, settings: Settings) -> int:
    counted = segment(args.text, smart=args.smart)
    print(
        json.dumps(
            {
                "encoding": counted.encoding,
                "segments": counted.segments,
                "characters": counted.characters,
                "text": counted.text,
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
