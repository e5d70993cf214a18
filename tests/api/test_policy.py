"""The policy over HTTP, for staff and the console."""

from tests.conftest import DE_MOBILE, US_MOBILE


def test_policy_status_lists_languages_and_countries(client):
    body = client.get("/v1/Policy").json()
    assert {"en", "es", "fr", "de"} <= set(body["languages"]) and "US" in body["countries"]
    assert body["errors"] == []


def test_policy_test_shows_the_decision_and_the_rendered_reply(client):
    body = client.post("/v1/Policy/Test", data={"Body": "Stopp", "From": DE_MOBILE, "Brand": "Acme"}).json()
    assert (body["kind"], body["keyword"], body["language"], body["country"]) == ("STOP", "STOPP", "de", "DE")
    assert body["reply"].startswith("Acme")


def test_policy_test_without_body_is_a_400(client):
    response = client.post("/v1/Policy/Test", data={"From": US_MOBILE})
    assert response.status_code == 400 and response.json()["code"] == 21602


def test_policy_test_with_unknown_mode_is_a_400(client):
    response = client.post("/v1/Policy/Test", data={"Body": "STOP", "Mode": "fuzzy"})
    assert response.status_code == 400
