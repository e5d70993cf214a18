"""Sign-in without an oracle: an unknown AccountSid costs the work of a known one, and the budgets of
failures (`accounts.SignIns`) come back with time.  The HTTP side is tests/flows/test_sign_in_limits.py;
the two means are printed by bench/login.py."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import event
from sqlalchemy.engine import Engine

from gateway.accounts import Accounts, SignIns
from gateway.errors import AuthenticationFailed, TooManyRequests
from gateway.tokens import TokenCipher

UNKNOWN_SID = "AC" + "d" * 32
WRONG_TOKEN = "0" * 32
ADDRESS = "192.0.2.7"


class CountingCipher(TokenCipher):
    """A real cipher that counts what it opens."""

    opened = 0

    def open(self, sealed: str) -> str:
        self.opened += 1
        return super().open(sealed)


def basic(sid: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine runs inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def work_of(engine: Engine, sid: str | None, tries: int = 3) -> tuple[int, int]:
    """(statements run, tokens opened) for `tries` wrong tokens as `sid` (None: a real account's),
    in a fresh process's Accounts."""
    cipher = CountingCipher([Fernet.generate_key().decode()], "test")
    accounts = Accounts(engine, cipher)
    account_sid = sid or accounts.create("known").sid
    cipher.opened = 0
    with statements(engine) as seen:
        for _ in range(tries):
            with pytest.raises(AuthenticationFailed):
                asyncio.run(accounts.authenticate(basic(account_sid, WRONG_TOKEN)))
    return len(seen), cipher.opened


def test_an_unknown_account_sid_costs_the_reads_and_decryptions_of_a_known_one(engine):
    """Wrong tokens for a missing account read the row and open a sealed token as for a real one, cached as long."""
    unknown, known = work_of(engine, UNKNOWN_SID), work_of(engine, None)
    assert unknown == known
    assert unknown[1] == 1  # one row read, one token opened: the next two tries hit the cache


class Clock:
    """Monotonic seconds that move only when the test says."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sign_ins_of(engine: Engine, clock: Clock, burst: int = 10, account_burst: int = 2) -> SignIns:
    accounts = Accounts(engine, CountingCipher([Fernet.generate_key().decode()], "test"))
    return SignIns(accounts, burst=burst, account_burst=account_burst, rate=0.5, clock=clock)


def test_a_spent_budget_comes_back_after_retry_after(engine):
    """Past its budget an address is told when to come back; then its next failure is a 401 again."""
    clock = Clock()
    sign_ins = sign_ins_of(engine, clock)
    for clock.now in (0.0, 0.1):
        with pytest.raises(AuthenticationFailed):
            asyncio.run(sign_ins.authenticate(basic(UNKNOWN_SID, WRONG_TOKEN), ADDRESS))
    clock.now = 0.2
    with pytest.raises(TooManyRequests) as refused:
        asyncio.run(sign_ins.authenticate(basic(UNKNOWN_SID, WRONG_TOKEN), ADDRESS))
    assert refused.value.retry_after == 2
    clock.now += refused.value.retry_after
    with pytest.raises(AuthenticationFailed):
        asyncio.run(sign_ins.authenticate(basic(UNKNOWN_SID, WRONG_TOKEN), ADDRESS))


def test_guesses_whose_reads_are_out_together_overdraw_no_budget(engine):
    """Five wrong tokens at once, their account's row not cached: two fit the budget and are 401s, three are 429s."""
    sign_ins = sign_ins_of(engine, Clock(), account_burst=2)

    async def five_at_once() -> list[BaseException | str]:
        guesses = [sign_ins.authenticate(basic(UNKNOWN_SID, WRONG_TOKEN), ADDRESS) for _ in range(5)]
        return await asyncio.gather(*guesses, return_exceptions=True)

    answers = [type(answer) for answer in asyncio.run(five_at_once())]
    assert sorted(answers, key=str) == [AuthenticationFailed] * 2 + [TooManyRequests] * 3
