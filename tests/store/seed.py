"""The store tests' (and benchmarks') starting point: an account whose Messaging Service has one
US long code, built straight in the database, without the HTTP API."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine

from gateway.accounts import Accounts
from gateway.ids import new_sid
from gateway.store.db import unit_of_work, utcnow
from gateway.store.tables import Sender, Service
from tests.conftest import TEST_CIPHER

SENDER = "+12015550124"


def account_with_service(
    engine: Engine, name: str, *, sender: str = SENDER, mps: int = 100, **service: Any
) -> tuple[str, str]:
    """(AccountSid, ServiceSid) of a new account named `name` whose service (`service`: more of its
    fields) sends from `sender` at `mps`."""
    account = Accounts(engine, TEST_CIPHER).create(name)
    now = utcnow()
    with unit_of_work(engine) as session:
        row = Service(
            sid=new_sid("MG"),
            account_sid=account.sid,
            friendly_name="Acme Dental",
            date_created=now,
            date_updated=now,
            **service,
        )
        session.add(row)
        session.flush()
        session.add(
            Sender(
                sid=new_sid("PN"),
                account_sid=account.sid,
                address=sender,
                kind="long_code",
                country="US",
                provider="twilio",
                mps=mps,
                service_sid=row.sid,
                date_created=now,
                date_updated=now,
            )
        )
    return account.sid, row.sid
