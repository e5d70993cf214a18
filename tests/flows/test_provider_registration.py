"""A number registered to a provider the gateway has no credentials for is refused, naming what to set."""

from __future__ import annotations

import httpx

from gateway.providers import PROVIDERS


def test_a_provider_without_credentials_refuses_its_numbers_with_the_variables_to_set(stack):
    response = httpx.post(
        f"{stack.url}/2010-04-01/Accounts/{stack.account_sid}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": "+12015550124", "Provider": "telnyx"},
        auth=(stack.account_sid, stack.auth_token),
    )
    assert response.status_code == 400
    assert "GATEWAY_TELNYX_API_KEY" in response.json()["message"]


def test_readyz_lists_every_provider_healthy_at_start(stack):
    providers = httpx.get(f"{stack.url}/readyz").json()["providers"]
    assert set(providers) == set(PROVIDERS)
    assert {report["state"] for report in providers.values()} == {"healthy"}
