"""Accounts and their credentials.

Apps authenticate every request with HTTP Basic `AccountSid:AuthToken`, as
with Twilio.  Tokens are looked up once and cached: they change only through
this module, which updates the cache.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import threading

from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.dates import utcnow
from gateway.errors import AuthenticationFailed
from gateway.ids import new_sid, new_token
from gateway.store.db import unit_of_work
from gateway.store.tables import Account


class Accounts:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def create(self, name: str = "") -> Account:
        account = Account(sid=new_sid("AC"), auth_token=new_token(), friendly_name=name, date_created=utcnow())
        with unit_of_work(self.engine) as session:
            session.add(account)
        with self._lock:
            self._tokens[account.sid] = account.auth_token
        return account

    def token_of(self, account_sid: str) -> str | None:
        token = self._tokens.get(account_sid)
        if token is None:
            with Session(self.engine) as session:
                account = session.get(Account, account_sid)
            if account is not None:
                with self._lock:
                    token = self._tokens[account_sid] = account.auth_token
        return token

    def authenticate(self, authorization: str | None) -> str:
        """The AccountSid of a valid `Authorization: Basic …` header, else 401/20003."""
        if not authorization or not authorization[:6].lower() == "basic ":
            raise _refused()
        try:
            user, _, password = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _refused() from None
        token = self.token_of(user) if user.startswith("AC") else None
        if token is None or not hmac.compare_digest(token.encode(), password.encode()):
            raise _refused()
        return user


def _refused() -> AuthenticationFailed:
    return AuthenticationFailed("Authentication Error - invalid username or password.")
