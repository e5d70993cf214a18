"""The queue page's reads, on a small database of known rows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from gateway.outbox.messages import insert_message
from gateway.store import queue_stats
from gateway.store.db import make_engine, migrate, unit_of_work, utcnow
from gateway.store.tables import Account, MessageEvent, Sender
from tests.conftest import DE_MOBILE, FR_MOBILE, GB_MOBILE

ACCOUNT, OTHER = "AC" + "a" * 32, "AC" + "b" * 32


def test_sent_since_counts_each_senders_messages_and_segments_of_the_window_for_the_account(tmp_path):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    migrate(url)
    engine = make_engine(url)
    now = utcnow()
    with unit_of_work(engine) as session:
        for account in (ACCOUNT, OTHER):
            session.add(Account(sid=account, auth_token="t" * 32, date_created=now))
        session.flush()
        for sid, account in (("PN" + "a" * 32, ACCOUNT), ("PN" + "b" * 32, OTHER)):
            session.add(
                Sender(
                    sid=sid,
                    account_sid=account,
                    address="+1201555" + sid[-4:].replace("a", "1").replace("b", "2"),
                    kind="long_code",
                    country="US",
                    provider="twilio",
                    mps=10,
                    date_created=now,
                    date_updated=now,
                )
            )
        session.flush()
        sent = [
            ("SM" + "1" * 32, ACCOUNT, "PN" + "a" * 32, 2, now - timedelta(seconds=10)),
            ("SM" + "2" * 32, ACCOUNT, "PN" + "a" * 32, 1, now - timedelta(seconds=20)),
            ("SM" + "3" * 32, ACCOUNT, "PN" + "a" * 32, 3, now - timedelta(minutes=5)),  # before the window
            ("SM" + "4" * 32, OTHER, "PN" + "b" * 32, 1, now - timedelta(seconds=5)),
        ]  # another account's
        for (sid, account, sender, segments, at), to in zip(
            sent, (FR_MOBILE, DE_MOBILE, GB_MOBILE, FR_MOBILE), strict=True
        ):
            insert_message(
                session,
                sid=sid,
                account_sid=account,
                sender_sid=sender,
                to=to,
                status="sent",
                num_segments=segments,
                expires_at=now,
                date_created=at,
            )
            session.connection().execute(
                insert(MessageEvent.__table__),
                {  # type: ignore[attr-defined]
                    "message_sid": sid,
                    "status": "sent",
                    "source": "dispatch",
                    "applied": True,
                    "at": at,
                },
            )
    with engine.connect() as connection:
        assert queue_stats.sent_since(connection, ACCOUNT, now - timedelta(minutes=1)) == {"PN" + "a" * 32: (2, 3)}
    engine.dispose()
