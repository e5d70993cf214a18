"""Liveness, readiness, the API description and Twilio-shaped errors."""

import shutil

from starlette.testclient import TestClient

from gateway.app import create_app
from tests.conftest import ROOT


def test_healthz_answers_while_the_process_lives(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_the_serving_policy_revision(client):
    body = client.get("/readyz").json()
    assert body["status"] == "ready" and len(body["policy"]["revision"]) == 12 and body["database"] == "ok"


def test_readyz_is_503_when_the_database_is_unreachable(settings, tmp_path):
    """A database path inside a missing directory cannot be opened: not ready, with the reason."""
    broken = settings.with_(database_url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with TestClient(create_app(broken)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["database unreachable: OperationalError"]


def test_readyz_is_503_with_the_error_when_no_policy_ever_loaded(settings, tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    (policies / "global.toml").write_text("language = ", encoding="utf-8")
    with TestClient(create_app(settings.with_(policies_dir=policies))) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["policy"]["errors"][0].startswith("global.toml:1: (syntax): invalid TOML")


def test_openapi_document_is_served(client):
    response = client.get("/openapi.yaml")
    assert response.status_code == 200 and response.text.startswith("openapi: 3.0.3")


def test_unknown_route_is_a_twilio_shaped_404(client):
    assert client.get("/nowhere").json() == {
        "code": 20404,
        "message": "Not Found",
        "more_info": "https://www.twilio.com/docs/errors/20404",
        "status": 404,
    }


def test_wrong_method_is_a_twilio_shaped_405(client):
    assert client.post("/healthz").json()["code"] == 20004


def test_migrations_record_the_serving_policy_revision(client, settings):
    """The revision's files are kept, so an audited decision can be traced to its exact rules."""
    import json

    from sqlmodel import Session, create_engine

    from gateway.store.tables import PolicyRevision

    revision = client.get("/readyz").json()["policy"]["revision"]
    engine = create_engine(settings.database_url)
    with Session(engine) as session:
        stored = session.get(PolicyRevision, revision)
    engine.dispose()
    assert "global.toml" in json.loads(stored.files)
