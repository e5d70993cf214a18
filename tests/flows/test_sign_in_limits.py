"""Failed sign-ins over HTTP, on the whole gateway under uvicorn: the budgets per client address and
per (AccountSid, address) answer 429 / 20429 with Retry-After, an unknown AccountSid is refused as a
wrong token is, and the owner, from another address, still gets in.

Loopback has a whole /8: a client bound to 127.0.0.2 is another address to the gateway."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.flows.conftest import Stack

ATTACKER = "127.0.0.1"
OWNER = "127.0.0.2"
UNKNOWN_SID = "AC" + "d" * 32
WRONG_TOKEN = "0" * 32
ACCOUNT_BURST = 3  # failures as one AccountSid from one address
ADDRESS_BURST = 5  # failures from one address, whatever the AccountSid
LIMITS = pytest.mark.gateway(
    auth_failure_account_burst=ACCOUNT_BURST, auth_failure_burst=ADDRESS_BURST, auth_failure_rate=0.01
)  # nothing comes back during a test


@pytest.fixture
def from_address(stack: Stack) -> Iterator[dict[str, httpx.Client]]:
    """A client per source address, each on the gateway's URL."""
    clients = {
        address: httpx.Client(base_url=stack.url, transport=httpx.HTTPTransport(local_address=address))
        for address in (ATTACKER, OWNER)
    }
    yield clients
    for client in clients.values():
        client.close()


def services(client: httpx.Client, sid: str, token: str) -> httpx.Response:
    return client.get("/v1/Services", auth=(sid, token))


@LIMITS
def test_wrong_tokens_from_one_address_get_429_with_retry_after_past_the_budget(stack, from_address):
    """Wrong tokens for one account from one address: 401 up to the budget, then 429 / 20429 with Retry-After."""
    attacker = from_address[ATTACKER]
    statuses = [services(attacker, stack.account_sid, WRONG_TOKEN).status_code for _ in range(ACCOUNT_BURST)]
    refused = services(attacker, stack.account_sid, WRONG_TOKEN)
    assert statuses == [401] * ACCOUNT_BURST
    assert refused.status_code == 429
    assert refused.json() == {
        "code": 20429,
        "message": refused.json()["message"],
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    assert int(refused.headers["Retry-After"]) >= 1


@LIMITS
def test_the_owner_with_the_right_token_from_another_address_is_let_in(stack, from_address):
    """While the attacker's address is refused, even with the right token, the owner elsewhere gets 200."""
    attacker = from_address[ATTACKER]
    for _ in range(ACCOUNT_BURST):
        services(attacker, stack.account_sid, WRONG_TOKEN)
    assert services(attacker, stack.account_sid, stack.auth_token).status_code == 429
    assert services(from_address[OWNER], stack.account_sid, stack.auth_token).status_code == 200


@LIMITS
def test_an_address_guessing_at_many_accounts_is_stopped_by_its_own_budget(stack, from_address):
    """Spread over two real accounts and unknown sids, one address's failures still meet its budget."""
    other = stack.app_state.accounts.create("other")
    attacker = from_address[ATTACKER]
    sids = [stack.account_sid, other.sid, "AC" + "e" * 32, "AC" + "f" * 32, UNKNOWN_SID]
    assert [services(attacker, sid, WRONG_TOKEN).status_code for sid in sids] == [401] * ADDRESS_BURST
    assert services(attacker, "AC" + "c" * 32, WRONG_TOKEN).status_code == 429
    assert services(from_address[OWNER], other.sid, other.auth_token).status_code == 200


@pytest.mark.gateway(
    auth_failure_account_burst=ACCOUNT_BURST, auth_failure_burst=2 * ACCOUNT_BURST, auth_failure_rate=0.01
)
def test_an_unknown_account_sid_is_refused_as_a_known_one_with_a_wrong_token(stack, from_address):
    """Both answer the same 401 / 20003 until their (AccountSid, address) budget is spent, then both 429."""
    attacker = from_address[ATTACKER]
    unknown = [services(attacker, UNKNOWN_SID, WRONG_TOKEN) for _ in range(ACCOUNT_BURST + 1)]
    known = [services(attacker, stack.account_sid, WRONG_TOKEN) for _ in range(ACCOUNT_BURST + 1)]
    for answers in (unknown, known):
        assert [r.status_code for r in answers] == [401] * ACCOUNT_BURST + [429]
    assert unknown[0].json() == known[0].json()
    assert known[0].json()["code"] == 20003


@LIMITS
def test_console_sign_in_failures_count_against_the_same_budget(stack, from_address):
    """Wrong console credentials spend the address's budget for the API too: the next API call is a 429."""
    attacker = from_address[ATTACKER]
    statuses = [
        attacker.get("/console/", auth=(stack.account_sid, WRONG_TOKEN)).status_code for _ in range(ACCOUNT_BURST)
    ]
    assert statuses == [401] * ACCOUNT_BURST
    assert services(attacker, stack.account_sid, WRONG_TOKEN).status_code == 429
    assert attacker.get("/console/", auth=(stack.account_sid, stack.auth_token)).status_code == 429


@LIMITS
def test_requests_without_credentials_spend_no_budget(stack, from_address):
    """A browser's first, credential-less request to the console is a prompt, not a guess: always 401."""
    attacker = from_address[ATTACKER]
    assert {attacker.get("/console/").status_code for _ in range(ADDRESS_BURST + 1)} == {401}
    assert services(attacker, stack.account_sid, stack.auth_token).status_code == 200


@LIMITS
def test_credentials_that_are_not_ascii_base64_are_a_counted_401(stack, from_address):
    """Latin-1 bytes after `Basic ` (a header may carry them) are a wrong guess like any other, never a 500."""
    attacker = from_address[ATTACKER]
    garbled = {"Authorization": b"Basic \xe9t\xe9"}
    statuses = [attacker.get("/v1/Services", headers=garbled).status_code for _ in range(ACCOUNT_BURST)]
    assert statuses == [401] * ACCOUNT_BURST
    assert attacker.get("/v1/Services", headers=garbled).status_code == 429
