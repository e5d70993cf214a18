"""`make run`'s demo: an account, a service and a simulated sender, reused across restarts."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from gateway.accounts import Accounts
from gateway.dates import utcnow
from gateway.ids import new_sid
from gateway.senders import classify_number, mps_for
from gateway.settings import Settings
from gateway.store.db import make_engine, unit_of_work
from gateway.store.senders import first_service
from gateway.store.tables import Sender, Service
from gateway.tokens import token_cipher

DEMO_NAME = "demo"
DEMO_NUMBER = "+12015550123"  # phonenumbers' US example number
#: Where a demo's callbacks may go unless GATEWAY_CALLBACK_ALLOW_NETWORKS says: the app being tried
#: out runs on the same machine (the gateway's own port stays refused).
DEMO_CALLBACKS = "127.0.0.0/8,::1/128"


def _command() -> str:
    """How this shell reaches the `gateway` command that runs: `.venv/bin/gateway` under `make run`."""
    program = Path(sys.argv[0])
    if program.name != "gateway":
        return "gateway"  # python -m gateway.cli
    try:
        return shlex.quote(str(program.resolve().relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(program))


def ensure_demo(settings: Settings) -> str:
    """Create (once) the demo account, service and sender; return what to print: the banner, or
    with `GATEWAY_LOG_FORMAT=json` the same facts as one JSON object, so that every line the
    process writes parses as JSON (the banner exists to show the demo's credentials; it is the
    command's answer, not a log line, and production never runs `--demo`)."""
    base = settings.public_url or settings.local_url
    engine = make_engine(settings.database_url)
    accounts = Accounts(engine, token_cipher(settings))
    account = accounts.named(DEMO_NAME) or accounts.create(DEMO_NAME)
    with unit_of_work(engine) as session:
        service = first_service(session, account.sid)
        if service is None:
            now = utcnow()
            service = Service(
                sid=new_sid("MG"),
                account_sid=account.sid,
                friendly_name="Demo service",
                date_created=now,
                date_updated=now,
            )
            session.add(service)
            session.flush()  # the sender's foreign key needs the service row first
            kind, country = classify_number(DEMO_NUMBER)
            session.add(
                Sender(
                    sid=new_sid("PN"),
                    account_sid=account.sid,
                    address=DEMO_NUMBER,
                    kind=kind.value,
                    country=country,
                    provider="sim",
                    mps=mps_for(kind, country, 10),
                    service_sid=service.sid,
                    date_created=now,
                    date_updated=now,
                )
            )
        service_sid = service.sid
    engine.dispose()
    sim_inbound = f"{_command()} sim inbound --url {base} --from +33612345678 --to {DEMO_NUMBER} 'Arrêt'"
    if settings.log_format == "json":
        return json.dumps(
            {
                "demo": {
                    "account_sid": account.sid,
                    "auth_token": account.auth_token,
                    "service_sid": service_sid,
                    "sender": DEMO_NUMBER,
                    "url": base,
                    "sim_inbound": sim_inbound,
                    **({"metrics_token": settings.metrics_token} if settings.metrics_token else {}),
                }
            },
            ensure_ascii=False,
        )
    return (
        f"\nDemo account (provider simulator; nothing leaves this machine):\n"
        f"  account_sid {account.sid}\n  auth_token  {account.auth_token}\n"
        f"  service     {service_sid} (sender {DEMO_NUMBER}, 10 MPS)\n"
        f"Try:\n  curl -u {account.sid}:{account.auth_token} "
        f"{base}/2010-04-01/Accounts/{account.sid}/Messages.json \\\n"
        f"       --data-urlencode To=+447400123456 --data-urlencode MessagingServiceSid={service_sid} "
        f"--data-urlencode Body='Hello from optout-gateway'\n"
        f"Text it as a person would (signed with the simulator's token):\n"
        f"  {sim_inbound}\n"
        + (
            f"Metrics (GATEWAY_METRICS_TOKEN):\n  curl -H 'Authorization: Bearer {settings.metrics_token}' "
            f"{base}/metrics\n"
            if settings.metrics_token
            else ""
        )
    )
