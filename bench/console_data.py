"""The console with a big store: generate 1,000,000 opt-outs and 1,000,000 messages, then time the pages.

```sh
.venv/bin/python bench/console_data.py                       # SQLite file in a temporary directory
.venv/bin/python bench/console_data.py --postgres             # a throwaway PostgreSQL (Debian's binaries)
.venv/bin/python bench/console_data.py --keep /tmp/console.db # keep the SQLite file (reused when it exists)
.venv/bin/python bench/console_data.py -n 100000              # smaller: 100,000 of each
```

The data: one account with a Messaging Service and five senders (US, CA, GB, FR, DE numbers).
Opt-outs are real-looking valid numbers of twelve countries (phonenumbers' example mobiles with
their last six digits varied), each with its consent event (STOP by keyword, its language and
policy revision, a quarter of them account-wide); one in ten numbers opted back in later.
Messages are spread over the last 60 days, newest last: 80% app messages (delivered, some
undelivered or failed with 30003/30005/30006/21614), 10% inbound, 10% confirmations; a tenth
of them go to opted-out numbers.  The last minute holds sends (`message_event`) for the queue page.

Then the app runs in this process (workers off) and each page is requested through Starlette's
test client; the figure is the server's own `Server-Timing` (handler time, rendering included).
A search is what staff do: type an opted-out number in its national format, follow the redirect
to the number's page.  Tests never assert timings; BENCHMARKS.md keeps the figures.
"""

from __future__ import annotations

import argparse
import base64
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import phonenumbers
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.import_optouts import templates  # noqa: E402 (after the path fix, to run from a checkout)
from gateway.accounts import Accounts  # noqa: E402
from gateway.app import create_app  # noqa: E402
from gateway.console.web import url as console_url  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.store.db import make_engine, migrate, utcnow  # noqa: E402
from gateway.store.tables import ConsentEvent, Message, MessageEvent, OptOut, Sender, Service  # noqa: E402
from gateway.tokens import token_cipher  # noqa: E402

CHUNK = 20_000
SENDERS = ("+12015550124", "+14165550199", "+447700900123", "+33612345679", "+4915123456780")
LANGUAGES = {
    "US": "en",
    "CA": "en",
    "GB": "en",
    "FR": "fr",
    "DE": "de",
    "ES": "es",
    "IT": "it",
    "BR": "pt",
    "MX": "es",
    "JP": "ja",
    "IN": "en",
    "AU": "en",
}
KEYWORDS = {"en": "STOP", "fr": "ARRÊT", "de": "STOPP", "es": "BAJA", "it": "ALT", "pt": "PARAR", "ja": "停止"}
ERRORS = (30003, 30005, 30006, 21614)


def _sid(prefix: str, index: int) -> str:
    return f"{prefix}{index:032x}"


def generate(url: str, count: int, rng: random.Random) -> tuple[str, str, list[str]]:
    """Fill a migrated database; returns the account's sid, token and a sample of opted-out numbers."""
    engine = make_engine(url)
    account = Accounts(engine, token_cipher(Settings(database_url=url))).create("console bench")
    now = utcnow()
    prefixes = templates(rng)
    service_sid = _sid("MG", 1)
    sender_rows = [
        {
            "sid": _sid("PN", i + 1),
            "account_sid": account.sid,
            "address": address,
            "kind": "long_code",
            "country": phonenumbers.region_code_for_number(phonenumbers.parse(address)),
            "provider": "sim",
            "mps": 10,
            "service_sid": service_sid,
            "date_created": now,
            "date_updated": now,
        }
        for i, address in enumerate(SENDERS)
    ]
    regions = {p: phonenumbers.region_code_for_number(phonenumbers.parse(p + "000000")) for p in prefixes}
    drawn = dict.fromkeys(f"{rng.choice(prefixes)}{rng.randrange(10**6):06d}" for _ in range(count * 11 // 10))
    numbers = list(drawn)[:count]
    sample = numbers[:: max(1, count // 500)]
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(
            insert(Service.__table__),
            [
                {  # type: ignore[attr-defined]
                    "sid": service_sid,
                    "account_sid": account.sid,
                    "friendly_name": "Acme Dental",
                    "date_created": now,
                    "date_updated": now,
                }
            ],
        )
        connection.execute(insert(Sender.__table__), sender_rows)  # type: ignore[attr-defined]
    span = timedelta(days=60).total_seconds()
    for start in range(0, count, CHUNK):
        states, events = [], []
        for index in range(start, min(start + CHUNK, count)):
            number = numbers[index]
            language = LANGUAGES.get(regions[number[:-6]] or "", "en")
            scope = "*" if index % 4 == 0 else service_sid
            at = now - timedelta(seconds=span * (1 - index / count))
            events.append(
                {
                    "account_sid": account.sid,
                    "scope": scope,
                    "number": number,
                    "channel": "sms",
                    "opted_out": True,
                    "keyword": KEYWORDS.get(language, "STOP"),
                    "language": language,
                    "inbound_message_sid": _sid("SM", 10**9 + index),
                    "policy_revision": "bench0000001",
                    "source": "keyword",
                    "reason": None,
                    "at": at,
                }
            )
            opted_in = index % 10 == 7
            if opted_in:
                events.append(
                    {
                        **events[-1],
                        "opted_out": False,
                        "keyword": "START",
                        "inbound_message_sid": None,
                        "at": at + timedelta(hours=1),
                    }
                )
            states.append(
                {
                    "account_sid": account.sid,
                    "service_sid": scope,
                    "number": number,
                    "channel": "sms",
                    "opted_out": not opted_in,
                    "date_updated": at,
                }
            )
        with engine.begin() as connection:
            connection.execute(insert(OptOut.__table__), states)  # type: ignore[attr-defined]
            connection.execute(insert(ConsentEvent.__table__), events)  # type: ignore[attr-defined]
    print(f"{count:,} opt-outs with their consent events in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    for start in range(0, count, CHUNK):
        rows = [
            _message(account.sid, service_sid, index, count, numbers, rng, now, span)
            for index in range(start, min(start + CHUNK, count))
        ]
        with engine.begin() as connection:
            connection.execute(insert(Message.__table__), rows)  # type: ignore[attr-defined]
    with engine.begin() as connection:  # the last minute's sends, for the queue page
        connection.execute(
            insert(MessageEvent.__table__),
            [  # type: ignore[attr-defined]
                {
                    "message_sid": _sid("SM", count - 1 - i),
                    "status": "sent",
                    "error_code": None,
                    "source": "dispatch",
                    "applied": True,
                    "at": now - timedelta(seconds=i * 0.1),
                }
                for i in range(600)
            ],
        )
    print(f"{count:,} messages in {time.perf_counter() - started:.0f} s")
    engine.dispose()
    return account.sid, account.auth_token, sample


def _message(
    account_sid: str,
    service_sid: str,
    index: int,
    count: int,
    numbers: list[str],
    rng: random.Random,
    now: Any,
    span: float,
) -> dict[str, Any]:
    created = now - timedelta(seconds=span * (1 - index / count))
    sender = SENDERS[index % len(SENDERS)]
    person = numbers[rng.randrange(len(numbers))] if index % 10 == 0 else f"+1201555{rng.randrange(10**4):04d}"
    kind = index % 10
    direction, status, error = "outbound-api", "delivered", None
    if kind == 1:
        direction, status = "inbound", "received"
    elif kind == 2:
        direction = "outbound-reply"
    elif index % 23 == 0:
        status, error = rng.choice(("undelivered", "failed")), rng.choice(ERRORS)
    inbound = direction == "inbound"
    return {
        "sid": _sid("SM", index),
        "account_sid": account_sid,
        "service_sid": service_sid,
        "sender_sid": _sid("PN", index % len(SENDERS) + 1),
        "direction": direction,
        "sender": person if inbound else sender,
        "to": sender if inbound else person,
        "body": "STOP" if inbound else "Your appointment is on Tuesday at 9:00. Reply STOP to opt out.",
        "status": status,
        "priority": 0 if direction == "outbound-reply" else 1,
        "num_segments": 1,
        "encoding": "GSM-7",
        "error_code": error,
        "expires_at": created + timedelta(hours=10),
        "date_created": created,
        "date_updated": created,
        "date_sent": None if inbound else created + timedelta(seconds=rng.uniform(0.2, 4)),
    }


@contextmanager
def database(args: argparse.Namespace) -> Iterator[tuple[str, bool]]:
    """The database URL, and whether it already holds the data (a kept SQLite file)."""
    if args.postgres:
        from tests.postgres import new_database, postgres_server

        with postgres_server() as base:
            yield new_database(base), False
        return
    if args.keep:
        path = Path(args.keep)
        yield f"sqlite:///{path}", path.exists() and path.with_suffix(".account").exists()
        return
    with tempfile.TemporaryDirectory(prefix="gateway-console-") as directory:
        yield f"sqlite:///{directory}/gateway.db", False


def server_ms(response: Any) -> float:
    found = re.search(r"dur=([0-9.]+)", response.headers.get("server-timing", ""))
    assert found, response.headers
    return float(found.group(1))


def measure(client: Any, auth: str, paths: list[str], *, follow: bool = False) -> list[float]:
    """Server milliseconds of each request (a redirect followed counts both answers)."""
    figures = []
    for path in paths:
        response = client.get(path, headers={"Authorization": auth}, follow_redirects=False)
        total = server_ms(response)
        if follow:
            assert response.status_code == 303, (path, response.status_code)
            response = client.get(response.headers["location"], headers={"Authorization": auth})
            total += server_ms(response)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        figures.append(total)
    return figures


def report(name: str, figures: list[float]) -> None:
    ordered = sorted(figures)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(
        f"{name:<44} n={len(figures):>4}  p50 {statistics.median(figures):7.1f} ms  p95 {p95:7.1f} ms  "
        f"max {ordered[-1]:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rows", type=int, default=1_000_000, help="opt-outs, and messages (each)")
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL instead of SQLite")
    parser.add_argument("--keep", help="SQLite file to keep (and reuse on the next run)")
    args = parser.parse_args()
    rng = random.Random(20261123)
    from starlette.testclient import TestClient

    with ExitStack() as stack:
        url, ready = stack.enter_context(database(args))
        marker = Path(args.keep).with_suffix(".account") if args.keep else None
        if ready and marker is not None:
            account_sid, token, *sample = marker.read_text().split()
        else:
            migrate(url)
            account_sid, token, sample = generate(url, args.rows, rng)
            if marker is not None:
                marker.write_text(" ".join([account_sid, token, *sample]))
        app = create_app(
            Settings(
                database_url=url,
                policies_dir=ROOT / "policies",
                locales_dir=ROOT / "locales",
                workers=False,
                simulator=False,
            )
        )
        client = stack.enter_context(TestClient(app))
        auth = "Basic " + base64.b64encode(f"{account_sid}:{token}".encode()).decode()
        picks = [sample[rng.randrange(len(sample))] for _ in range(args.searches)]
        national = [
            phonenumbers.format_number(phonenumbers.parse(n), phonenumbers.PhoneNumberFormat.NATIONAL) for n in picks
        ]
        regions = [phonenumbers.region_code_for_number(phonenumbers.parse(n)) for n in picks]
        report("overview, first view (29 settled days read)", measure(client, auth, ["/console/"]))
        searches = [console_url("/console/numbers", q=q, region=r) for q, r in zip(national, regions, strict=True)]
        report("search (national format) + number page", measure(client, auth, searches, follow=True))
        report("number page (E.164)", measure(client, auth, [f"/console/numbers/{n}" for n in picks[:50]]))
        report("overview, next views", measure(client, auth, ["/console/"] * 5))
        report("messages (newest 50)", measure(client, auth, ["/console/messages"] * 20))
        to_one = [console_url("/console/messages", to=n) for n in picks[:20]]
        report("messages to one number", measure(client, auth, to_one))
        report("messages with error 30003", measure(client, auth, ["/console/messages?error=30003"] * 10))
        report("queues", measure(client, auth, ["/console/queues"] * 10))
        report("policy tester", measure(client, auth, ["/console/tester?text=ARR%C3%8AT&from=%2B33612345678"] * 20))


if __name__ == "__main__":
    main()
