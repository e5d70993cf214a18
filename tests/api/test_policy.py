"""The policy over HTTP, for staff and the console."""

import pytest
from starlette.testclient import TestClient

from tests.conftest import DE_MOBILE, US_MOBILE


@pytest.fixture
def staff(client: TestClient) -> TestClient:
    """The client signed in as an account: the policy answers any account, and no one else."""
    account = client.app.state.accounts.create("compliance")
    client.auth = (account.sid, account.auth_token)
    return client


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/Policy"), ("POST", "/v1/Policy/Test")])
def test_the_policy_is_not_shown_without_credentials(client, method, path):
    response = client.request(method, path, data={"Body": "STOP"} if method == "POST" else None)
    assert response.status_code == 401 and response.json()["code"] == 20003
    assert "revision" not in response.json() and "kind" not in response.json()


def test_policy_status_lists_languages_and_countries(staff):
    body = staff.get("/v1/Policy").json()
    assert {"en", "es", "fr", "de"} <= set(body["languages"]) and "US" in body["countries"]
    assert body["errors"] == []


def test_policy_test_shows_the_decision_and_the_rendered_reply(staff):
    body = staff.post("/v1/Policy/Test", data={"Body": "Stopp", "From": DE_MOBILE, "Brand": "Acme"}).json()
    assert (body["kind"], body["keyword"], body["language"], body["country"]) == ("STOP", "STOPP", "de", "DE")
    assert body["reply"].startswith("Acme")


def test_policy_test_without_body_is_a_400(staff):
    response = staff.post("/v1/Policy/Test", data={"From": US_MOBILE})
    assert response.status_code == 400 and response.json()["code"] == 21602


def test_policy_test_with_unknown_mode_is_a_400(staff):
    response = staff.post("/v1/Policy/Test", data={"Body": "STOP", "Mode": "fuzzy"})
    assert response.status_code == 400


def test_policy_test_shows_how_sure_the_match_was_and_the_exception_it_met(staff):
    """The dental patient's reply that also revokes: a phrase, past the CANCEL MY APPOINTMENT exception."""
    body = staff.post(
        "/v1/Policy/Test", data={"Body": "cancel my appointment and stop texting me", "From": US_MOBILE}
    ).json()
    assert (body["kind"], body["match"], body["exception"]) == ("STOP", "phrase", "CANCEL MY APPOINTMENT")


def test_policy_test_shows_the_exception_when_nothing_matched(staff):
    """'I will stop by tomorrow' does nothing, and staff can see which exception made it so."""
    body = staff.post("/v1/Policy/Test", data={"Body": "I will stop by tomorrow", "From": US_MOBILE}).json()
    assert (body["kind"], body["match"], body["exception"], body["reply"]) == (None, None, "STOP BY", None)


def test_policy_status_lists_notes_apart_from_warnings(staff):
    """The shipped files explain their two-segment replies: notes, and no warnings."""
    body = staff.get("/v1/Policy").json()
    assert body["warnings"] == []
    assert body["notes"] and all(": reply '" in note and "long_reply" in note for note in body["notes"])
