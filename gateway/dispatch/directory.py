"""Services and sender pools as the writer thread sees them, cached.

Every send reads its service and pool; they change rarely and only through
writer jobs, which call `clear()`, so the cache is exact for this process.
Entries are detached copies: nothing here is ever written back.
"""

from __future__ import annotations

from sqlmodel import Session

from gateway.store import senders
from gateway.store.tables import Sender, Service


class Directory:
    def __init__(self) -> None:
        self._services: dict[str, Service | None] = {}
        self._pools: dict[str, dict[str, Sender]] = {}
        self._senders: dict[tuple[str, str], Sender | None] = {}
        self._receiving: dict[str, dict[str, Sender]] = {}

    def clear(self) -> None:
        self._services.clear()
        self._pools.clear()
        self._senders.clear()
        self._receiving.clear()

    def service(self, session: Session, sid: str) -> Service | None:
        if sid not in self._services:
            found = session.get(Service, sid)
            if found is not None:
                session.expunge(found)
            self._services[sid] = found
        return self._services[sid]

    def pool(self, session: Session, service_sid: str) -> dict[str, Sender]:
        pool = self._pools.get(service_sid)
        if pool is None:
            members = senders.service_members(session, service_sid)
            for member in members:
                session.expunge(member)
            pool = self._pools[service_sid] = {m.sid: m for m in members}
        return pool

    def receiving(self, session: Session, address: str) -> dict[str, Sender]:
        """The senders a person's message to `address` may be for, by provider (inbound: the account
        is not known yet). A number has one owner per provider (`uq_sender_receiving`)."""
        found = self._receiving.get(address)
        if found is None:
            rows = senders.receiving(session, address)
            for row in rows:
                session.expunge(row)
            found = self._receiving[address] = {row.provider: row for row in rows}
        return found

    def sender(self, session: Session, account_sid: str, address: str) -> Sender | None:
        key = (account_sid, address)
        if key not in self._senders:
            found = senders.account_sender(session, account_sid, address)
            if found is not None:
                session.expunge(found)
            self._senders[key] = found
        return self._senders[key]
