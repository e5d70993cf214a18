"""Accounts and their credentials.

Apps authenticate every request with HTTP Basic `AccountSid:AuthToken`, as with Twilio.  Tokens
are stored sealed (`gateway.tokens`) and opened on first use; what was opened is kept for
`CACHE_SECONDS`, so a token rotated by another process (`gateway accounts rotate-token`) is seen
here within that time.  A rotation may give the previous token a grace period, during which both
authenticate; the forwarder signs with the current one.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from gateway.dates import utcnow
from gateway.errors import AuthenticationFailed, NotFound
from gateway.ids import new_sid, new_token
from gateway.store.db import unit_of_work
from gateway.store.tables import Account
from gateway.tokens import InvalidToken, TokenCipher

log = logging.getLogger("gateway.accounts")

#: Seconds an opened token is trusted before the account row is read again.
CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Issued:
    """An account's sid and its new token in clear, as `accounts create` and `rotate-token` print them
    once; the database holds only the sealed token."""

    sid: str
    auth_token: str


@dataclass(frozen=True)
class _Opened:
    read_at: float  # monotonic
    current: str
    previous: str | None
    previous_until: datetime | None

    def accepts(self, password: str, now: datetime) -> bool:
        ok = hmac.compare_digest(self.current.encode(), password.encode())
        if self.previous is not None and self.previous_until is not None and now < self.previous_until:
            ok |= hmac.compare_digest(self.previous.encode(), password.encode())
        return ok


class Accounts:
    def __init__(self, engine: Engine, cipher: TokenCipher, cache_seconds: float = CACHE_SECONDS) -> None:
        self.engine = engine
        self.cipher = cipher
        self.cache_seconds = cache_seconds
        self._opened: dict[str, _Opened] = {}
        self._lock = threading.Lock()

    def create(self, name: str = "") -> Issued:
        token = new_token()
        account = Account(sid=new_sid("AC"), auth_token=self.cipher.seal(token), friendly_name=name,
                          date_created=utcnow())
        with unit_of_work(self.engine) as session:
            session.add(account)
        return Issued(account.sid, token)

    def named(self, name: str) -> Issued | None:
        """The first account with this friendly name and its token (the demo's, reused across restarts)."""
        with Session(self.engine) as session:
            sid = session.execute(select(col(Account.sid)).where(col(Account.friendly_name) == name)).scalars().first()
        token = self.token_of(sid) if sid is not None else None
        return Issued(sid, token) if sid is not None and token is not None else None

    def rotate(self, account_sid: str, grace: timedelta = timedelta(0)) -> Issued:
        """Give the account a new token; the old one keeps authenticating for `grace` (none by default)."""
        token = new_token()
        with unit_of_work(self.engine) as session:
            account = session.get(Account, account_sid, with_for_update=True)
            if account is None:
                raise NotFound(f"The requested resource /Accounts/{account_sid} was not found.")
            keep = grace > timedelta(0)
            account.previous_token = account.auth_token if keep else None
            account.previous_token_expires = utcnow() + grace if keep else None
            account.auth_token = self.cipher.seal(token)
        with self._lock:
            self._opened.pop(account_sid, None)
        return Issued(account_sid, token)

    def reencrypt(self) -> int:
        """Seal every stored token again with the newest key (after a key was added); how many accounts."""
        with unit_of_work(self.engine) as session:
            accounts = list(session.execute(select(Account).with_for_update()).scalars())
            for account in accounts:
                account.auth_token = self.cipher.reseal(account.auth_token)
                if account.previous_token is not None:
                    account.previous_token = self.cipher.reseal(account.previous_token)
        return len(accounts)

    def token_of(self, account_sid: str) -> str | None:
        """The account's current token in clear (the forwarder signs with it); None for no such account."""
        opened = self._open(account_sid)
        return opened.current if opened is not None else None

    def authenticate(self, authorization: str | None) -> str:
        """The AccountSid of a valid `Authorization: Basic …` header, else 401/20003."""
        if not authorization or not authorization[:6].lower() == "basic ":
            raise _refused()
        try:
            user, _, password = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _refused() from None
        opened = self._open(user) if user.startswith("AC") else None
        if opened is None or not opened.accepts(password, utcnow()):
            raise _refused()
        return user

    def _open(self, account_sid: str) -> _Opened | None:
        opened = self._opened.get(account_sid)
        now = time.monotonic()
        if opened is not None and now - opened.read_at < self.cache_seconds:
            return opened
        with Session(self.engine) as session:
            account = session.get(Account, account_sid)
        if account is None:
            return None
        current = self._unseal(account_sid, account.auth_token, "auth token")
        if current is None:
            return None
        expires = account.previous_token_expires
        in_grace = expires is not None and utcnow() < expires
        previous = self._unseal(account_sid, account.previous_token, "previous auth token") if in_grace else None
        opened = _Opened(now, current, previous, expires)
        with self._lock:
            self._opened[account_sid] = opened
        return opened

    def _unseal(self, account_sid: str, sealed: str | None, what: str) -> str | None:
        """The token in clear; None (logged, without the token) when no configured key made it."""
        if sealed is None:
            return None
        try:
            return self.cipher.open(sealed)
        except InvalidToken:
            log.error("the %s of %s cannot be decrypted with the configured keys (GATEWAY_SECRET_KEY); "
                      "it is refused", what, account_sid)
            return None


def _refused() -> AuthenticationFailed:
    return AuthenticationFailed("Authentication Error - invalid username or password.")
