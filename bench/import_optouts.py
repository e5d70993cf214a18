"""Time `gateway optouts import` on a generated list: N rows (default 1,000,000) into a fresh SQLite file.

```sh
.venv/bin/python bench/import_optouts.py            # 1,000,000 rows
.venv/bin/python bench/import_optouts.py -n 100000
```

Numbers are real-looking and valid: each country's example mobile from phonenumbers with its
last six digits varied (a sample of each template is checked valid before use).  About one row in
ten opts in, one in ten is WhatsApp, half carry a time.  1,000 messages wait in the queue, one
in ten to a listed number, so the cancel pass has work to do.  Target: under a minute.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import phonenumbers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.accounts import Accounts  # noqa: E402 (after the path fix, to run from a checkout)
from gateway.settings import Settings  # noqa: E402
from gateway.store.db import make_engine, migrate, unit_of_work, utcnow  # noqa: E402
from gateway.store.tables import Message  # noqa: E402
from gateway.tokens import token_cipher  # noqa: E402
from gateway.transfer import import_csv  # noqa: E402

REGIONS = ("US", "CA", "GB", "FR", "DE", "ES", "IT", "BR", "MX", "JP", "IN", "AU")
VARIED = 6


def templates(rng: random.Random) -> list[str]:
    """E.164 prefixes whose every 6-digit completion we sampled is valid."""
    found = []
    for region in REGIONS:
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
        prefix = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[:-VARIED]
        sample = (f"{prefix}{rng.randrange(10**VARIED):0{VARIED}d}" for _ in range(500))
        if all(phonenumbers.is_valid_number(phonenumbers.parse(number)) for number in sample):
            found.append(prefix)
    return found


def generate(path: Path, rows: int, rng: random.Random) -> list[str]:
    prefixes = templates(rng)
    start = utcnow() - timedelta(days=365)
    listed = []
    with path.open("w", encoding="utf-8") as out:
        out.write("phone_number,scope,channel,state,time,source\n")
        for index in range(rows):
            number = f"{rng.choice(prefixes)}{rng.randrange(10**VARIED):0{VARIED}d}"
            channel = "whatsapp" if index % 10 == 3 else "sms"
            state = "opted_in" if index % 10 == 7 else "opted_out"
            moment = (start + timedelta(seconds=index * 30)).strftime("%Y-%m-%dT%H:%M:%SZ") if index % 2 else ""
            out.write(f"{number},,{channel},{state},{moment},carrier\n")
            if index % 1000 == 0:
                listed.append(number)
    return listed


def queue_messages(engine: object, account_sid: str, listed: list[str], rng: random.Random) -> None:
    now = utcnow()
    with unit_of_work(engine) as session:  # type: ignore[arg-type]
        for index in range(1000):
            to = listed[index % len(listed)] if index % 10 == 0 else f"+1201555{rng.randrange(10**4):04d}"
            session.add(
                Message(
                    sid=f"SM{index:032x}",
                    account_sid=account_sid,
                    sender_sid="PN" + "0" * 32,
                    to=to,
                    status="queued",
                    expires_at=now + timedelta(hours=1),
                    date_created=now,
                    date_updated=now,
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = random.Random(20240501)
    with tempfile.TemporaryDirectory(prefix="gateway-import-") as directory:
        csv_path, url = Path(directory) / "optouts.csv", f"sqlite:///{directory}/gateway.db"
        listed = generate(csv_path, args.rows, rng)
        migrate(url)
        engine = make_engine(url)
        account = Accounts(engine, token_cipher(Settings(database_url=url))).create("bench")
        queue_messages(engine, account.sid, listed, rng)
        bad: list[str] = []
        started = time.perf_counter()
        with csv_path.open(encoding="utf-8", newline="") as source:
            result = import_csv(
                engine, account.sid, source, now=utcnow(), report=lambda line, message: bad.append(f"{line}: {message}")
            )
        elapsed = time.perf_counter() - started
        with engine.connect() as connection:
            canceled = connection.exec_driver_sql("SELECT count(*) FROM message WHERE status = 'canceled'").scalar()
        engine.dispose()
    print(
        f"{result.imported:,} rows imported, {result.skipped:,} skipped, {canceled} queued messages canceled "
        f"in {elapsed:.1f} s: {result.imported / elapsed:,.0f} rows/s"
    )
    for line in bad[:5]:
        print("  bad row", line)


if __name__ == "__main__":
    main()
