"""Accounts and their credentials.

Apps authenticate every request with HTTP Basic `AccountSid:AuthToken`, as with Twilio.  Tokens
are stored sealed (`gateway.tokens`) and opened on first use; what was opened is kept for
`CACHE_SECONDS`, so a token rotated by another process (`gateway accounts rotate-token`) is seen
here within that time.  A rotation may give the previous token a grace period, during which both
authenticate; the forwarder signs with the current one.

An AccountSid that does not exist costs what an existing one does: the row is looked up, a dummy
sealed token is opened and compared, and the answer is cached as long, so the time of a 401 does
not say whether the account exists.  (An account made by another process after someone tried
its sid here authenticates here `CACHE_SECONDS` later.)

Sign-in answers on the event loop from the cache; a miss reads the row and opens its token in a
worker thread (`store.reads.SIGN_INS`), so a slow database holds that sign-in and nothing else
of its process.

Failed sign-ins are budgeted by `SignIns`, per client address and per AccountSid from that
address (token buckets, `gateway.ratelimit`): past either budget the address is answered 429
without its credentials being checked, so a right guess could not be told from a wrong one,
while the owner, from any other address, still gets in.
"""

from __future__ import annotations

import base64
import hmac
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from gateway.dates import utcnow
from gateway.errors import AuthenticationFailed, NotFound, TooManyRequests
from gateway.ids import new_sid, new_token
from gateway.ratelimit import RateLimiter
from gateway.store import accounts as rows
from gateway.store import reads
from gateway.store.db import unit_of_work
from gateway.store.tables import Account
from gateway.tokens import InvalidToken, TokenCipher

log = logging.getLogger("gateway.accounts")

#: Seconds an opened token is trusted before the account row is read again.
CACHE_SECONDS = 5.0
#: Opened tokens kept at most (unknown sids are cached too, and anyone may make those up).
CACHE_SIZE = 10_000
#: Failure budgets kept at most, by address and by (AccountSid, address): full ones go first.
BUDGETS_KEPT = 100_000


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
    exists: bool = True  # False: a stand-in for an AccountSid that no account has

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
        nobody = new_token()  # what an unknown AccountSid's "token" is compared with: no one knows it
        self._nobody = _Opened(0.0, nobody, None, None, exists=False)
        self._nobody_sealed = cipher.seal(nobody)

    def create(self, name: str = "") -> Issued:
        token = new_token()
        account = Account(
            sid=new_sid("AC"), auth_token=self.cipher.seal(token), friendly_name=name, date_created=utcnow()
        )
        with unit_of_work(self.engine) as session:
            session.add(account)
        return Issued(account.sid, token)

    def named(self, name: str) -> Issued | None:
        """The first account with this friendly name and its token (the demo's, reused across restarts)."""
        with Session(self.engine) as session:
            sid = rows.sid_named(session, name)
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
            accounts = rows.locked_all(session)
            for account in accounts:
                account.auth_token = self.cipher.reseal(account.auth_token)
                if account.previous_token is not None:
                    account.previous_token = self.cipher.reseal(account.previous_token)
        return len(accounts)

    def token_of(self, account_sid: str) -> str | None:
        """The account's current token in clear (the forwarder signs with it); None for no such account."""
        return _current(self._open(account_sid))

    async def current_token(self, account_sid: str) -> str | None:
        """`token_of` for the event loop (the console's forms are signed with it): a miss is read off it."""
        return _current(await self._open_off_loop(account_sid))

    async def authenticate(self, authorization: str | None) -> str:
        """The AccountSid of a valid `Authorization: Basic …` header, else 401/20003."""
        user, password = basic_credentials(authorization)
        opened = await self._open_off_loop(user) if user.startswith("AC") else self._nobody
        if not opened.accepts(password, utcnow()) or not opened.exists:
            raise _refused()
        return user

    async def _open_off_loop(self, account_sid: str) -> _Opened:
        """`_open` on the event loop: the cache answers there; a miss is read in a worker thread."""
        cached = self._cached(account_sid)
        return cached if cached is not None else await reads.SIGN_INS.read(self.engine, self._read, account_sid)

    def _open(self, account_sid: str) -> _Opened:
        cached = self._cached(account_sid)
        if cached is not None:
            return cached
        with Session(self.engine) as session:
            return self._read(session, account_sid)

    def _cached(self, account_sid: str) -> _Opened | None:
        opened = self._opened.get(account_sid)
        return opened if opened is not None and time.monotonic() - opened.read_at < self.cache_seconds else None

    def _read(self, session: Session, account_sid: str) -> _Opened:
        """The account's tokens in clear from its row, cached.  No such account (or one whose token no
        key opens) costs the same and is cached the same: see the module's docstring.  Requests that
        missed together wait for a reader in turn: those that find the cache filled by then read
        nothing."""
        cached = self._cached(account_sid)
        if cached is not None:
            return cached
        now = time.monotonic()
        account = session.get(Account, account_sid)
        current = self._unseal(account_sid, account.auth_token if account else self._nobody_sealed, "auth token")
        if account is None or current is None:
            opened = replace(self._nobody, read_at=now)
        else:
            expires = account.previous_token_expires
            in_grace = expires is not None and utcnow() < expires
            previous = self._unseal(account_sid, account.previous_token, "previous auth token") if in_grace else None
            opened = _Opened(now, current, previous, expires)
        with self._lock:
            if len(self._opened) >= CACHE_SIZE:
                self._opened.clear()
            self._opened[account_sid] = opened
        return opened

    def _unseal(self, account_sid: str, sealed: str | None, what: str) -> str | None:
        """The token in clear; None (logged, without the token) when no configured key made it."""
        if sealed is None:
            return None
        try:
            return self.cipher.open(sealed)
        except InvalidToken:
            log.error(
                "the %s of %s cannot be decrypted with the configured keys (GATEWAY_SECRET_KEY); it is refused",
                what,
                account_sid,
            )
            return None


def _current(opened: _Opened) -> str | None:
    return opened.current if opened.exists else None


def _refused() -> AuthenticationFailed:
    return AuthenticationFailed("Authentication Error - invalid username or password.")


def basic_credentials(authorization: str | None) -> tuple[str, str]:
    """The user and password of an `Authorization: Basic …` header, else 401/20003."""
    if not authorization or not authorization[:6].lower() == "basic ":
        raise _refused()
    try:
        user, _, password = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
    except ValueError:  # not ASCII, not base64 (binascii.Error), not UTF-8 (UnicodeDecodeError)
        raise _refused() from None
    return user, password


class SignIns:
    """Sign-in for the API and the console: `Accounts.authenticate` behind budgets of failures.

    A client address may fail `burst` times, and fail as one AccountSid `account_burst` times; each
    budget comes back at `rate` failures a second.  Past either, the address is answered 429 (20429,
    `Retry-After`) before its credentials are looked at.  No budget is kept per AccountSid alone:
    whoever knows a sid could then lock its owner out.  The budgets live in the process that answers,
    as the API rate limit's do; `clock` is monotonic seconds."""

    def __init__(
        self,
        accounts: Accounts,
        burst: int,
        account_burst: int,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = accounts
        self.rate = rate
        self.clock = clock
        self._addresses = RateLimiter(rate, burst, max_keys=BUDGETS_KEPT)
        self._pairs = RateLimiter(rate, account_burst, max_keys=BUDGETS_KEPT)

    async def authenticate(self, authorization: str | None, address: str) -> str:
        """The AccountSid of valid credentials; 401 for others, counted; 429 once a budget is spent.
        A request without credentials guesses nothing (a browser's first one to the console): 401,
        uncounted.

        The budgets are looked at twice: before the credentials, which spares a spent address even
        the read of a row, and after them, in the same step of the event loop as the failure is
        counted, so requests whose reads were out together cannot all pass a budget that only some
        of them fit (and a right guess made meanwhile is answered 429 as well)."""
        if not authorization:
            return await self.accounts.authenticate(authorization)
        try:
            pair = f"{basic_credentials(authorization)[0][:64]} {address}"
        except AuthenticationFailed:
            pair = f" {address}"
        self._refuse_if_spent(address, pair)
        try:
            account_sid: str | None = await self.accounts.authenticate(authorization)
        except AuthenticationFailed:
            account_sid = None
        self._refuse_if_spent(address, pair)
        if account_sid is None:
            now = self.clock()
            self._addresses.take(address, now)
            self._pairs.take(pair, now)
            raise _refused()
        return account_sid

    def _refuse_if_spent(self, address: str, pair: str) -> None:
        now = self.clock()
        wait = max(self._addresses.wait(address, now), self._pairs.wait(pair, now))
        if wait:
            raise TooManyRequests(
                "Too Many Requests: too many failed sign-ins from this address "
                "(GATEWAY_AUTH_FAILURE_BURST, GATEWAY_AUTH_FAILURE_ACCOUNT_BURST); "
                "try again later.",
                math.ceil(wait),
            )
