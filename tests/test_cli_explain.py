"""`gateway explain` as support staff use it: the API's explanation, for people or as JSON, from the
gateway's own database, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.cli import main
from gateway.settings import Settings
from gateway.store.db import migrate
from tests.conftest import ROOT, SECRET_KEY, US_MOBILE

US_SENDER = "+12015550124"  # area code 201, like US_MOBILE
AT = "2026-12-04T10:30:00-05:00"


@dataclass
class Gateway:
    client: TestClient
    account: str
    service: str
    number: str


@pytest.fixture
def gateway(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    """A gateway (no workers) with one service whose pool is one US number; the command's environment
    points at its database."""
    migrate(database_url)
    settings = Settings(
        database_url=database_url,
        policies_dir=ROOT / "policies",
        locales_dir=ROOT / "locales",
        secret_key=SECRET_KEY,
        workers=False,
        simulator=False,
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="token",
    )
    for name, value in (
        ("GATEWAY_DATABASE_URL", database_url),
        ("GATEWAY_SECRET_KEY", SECRET_KEY),
        ("GATEWAY_POLICIES_DIR", str(ROOT / "policies")),
        ("GATEWAY_LOCALES_DIR", str(ROOT / "locales")),
    ):
        monkeypatch.setenv(name, value)
    app = create_app(settings)
    with TestClient(app) as client:
        account = app.state.accounts.create("support")
        client.auth = (account.sid, account.auth_token)
        base = f"/2010-04-01/Accounts/{account.sid}"
        number = client.post(f"{base}/IncomingPhoneNumbers.json", data={"PhoneNumber": US_SENDER}).json()["sid"]
        service = client.post("/v1/Services", data={"FriendlyName": "Acme Dental"}).json()["sid"]
        assert client.post(f"/v1/Services/{service}/PhoneNumbers", data={"PhoneNumberSid": number}).status_code == 201
        yield Gateway(client, account.sid, service, number)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["explain", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_explain_prints_outcome_route_gates_and_encoding_for_people(gateway, capsys):
    """The text names the outcome, the sender and its rule, each gate with its source, and the segments."""
    code, out, _ = run(
        capsys,
        "--account",
        gateway.account,
        "--service",
        gateway.service,
        "--to",
        US_MOBILE,
        "--body",
        "Your cleaning is Tuesday at 9:00",
        "--at",
        AT,
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        f"send to {US_MOBILE} via {gateway.service}, decided 2026-12-04T15:30:00Z "
        f"(policy revision {lines[0].split('policy revision ')[1]}"
    )
    assert lines[1] == "outcome: goes out now (2026-12-04T15:30:00Z)"
    assert (
        lines[2].startswith(f"route: {US_SENDER} ({gateway.number}, long_code, ") and " by rule area_code: " in lines[2]
    )
    assert lines[3] == f"  source: service {gateway.service}: AreaCodeGeomatch"
    assert any(line.split()[:2] == ["opt_out", "pass:"] for line in lines)
    assert lines[-1].startswith("encoding: GSM-7, 1 segment (smart encoding on: ")


def test_explain_json_is_what_the_api_answers(gateway, capsys):
    """`--json` prints the very answer of POST /v1/Messages/Explain for the same parameters and moment."""
    params = {"To": US_MOBILE, "MessagingServiceSid": gateway.service, "Body": "Café at 9:00", "At": AT}
    api = gateway.client.post("/v1/Messages/Explain", data=params)
    assert api.status_code == 200, api.text
    code, out, _ = run(
        capsys,
        "--account",
        gateway.account,
        "--service",
        gateway.service,
        "--to",
        US_MOBILE,
        "--body",
        "Café at 9:00",
        "--at",
        AT,
        "--json",
    )
    assert code == 0 and json.loads(out) == api.json()


def test_explain_of_an_opted_out_number_exits_1_naming_the_scope(gateway, capsys):
    """After an opt-out from the service, the command says refused with 21610 and exits 1."""
    response = gateway.client.post(
        "/v1/OptOuts", data={"PhoneNumber": US_MOBILE, "ServiceSid": gateway.service, "Reason": "asked by phone"}
    )
    assert response.status_code == 201, response.text
    code, out, _ = run(
        capsys, "--account", gateway.account, "--service", gateway.service, "--to", US_MOBILE, "--body", "Reminder"
    )
    assert code == 1
    assert "outcome: refused with 21610 by opt_out: Attempt to send to unsubscribed recipient." in out
    assert f"opted out of the Messaging Service {gateway.service} (sms)" in out
    assert f"scope: {gateway.service}" in out and '"source": "api"' in out  # the scope, and the event's line


def test_explain_message_prints_the_reasons_it_recorded(gateway, capsys):
    """`--message SM…` prints what GET /v1/Messages/{Sid}/Explain answers for a sent message."""
    sent = gateway.client.post(
        f"/2010-04-01/Accounts/{gateway.account}/Messages.json",
        data={"To": US_MOBILE, "MessagingServiceSid": gateway.service, "Body": "Hi"},
    )
    assert sent.status_code == 201, sent.text
    code, out, _ = run(capsys, "--account", gateway.account, "--message", sent.json()["sid"], "--json")
    assert code == 0
    assert json.loads(out) == gateway.client.get(f"/v1/Messages/{sent.json()['sid']}/Explain").json()


def test_explain_of_another_accounts_service_is_refused_with_exit_2(gateway, capsys):
    """A service of another account is not explained: exit 2, nothing printed on stdout."""
    other = gateway.client.app.state.accounts.create("other")  # type: ignore[attr-defined]
    code, out, err = run(
        capsys, "--account", other.sid, "--service", gateway.service, "--to", US_MOBILE, "--body", "Hi"
    )
    assert (code, out) == (2, "")
    assert err == f"gateway explain: 20404: account {other.sid} has no Messaging Service {gateway.service}\n"


def test_explain_with_a_bad_parameter_says_which_with_exit_2(gateway, capsys):
    """A parameter the API would refuse is refused the same way, with its code."""
    code, _, err = run(capsys, "--account", gateway.account, "--service", gateway.service, "--to", "+1555")
    assert code == 2 and err == "gateway explain: 21211: The 'To' number +1555 is not a valid phone number.\n"


def test_explain_help_describes_every_option_and_the_exit_status(capsys):
    """`gateway explain --help` names every option, what --message does, the exit statuses and examples."""
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    for option in (
        "--account AC…",
        "--message SM…",
        "--to NUMBER",
        "--from SENDER",
        "--service MG…",
        "--body BODY",
        "--media-url URL",
        "--param NAME=VALUE",
        "--at ISO8601",
        "--json",
    ):
        assert option in out, option
    assert "exit status: 0 the message goes (or went) out or is held; 1 it is (or was) refused;" in out
    assert "Nothing is written." in out and "gateway explain --account AC… --message SM… --json" in out


def test_sender_id_gate_of_a_routed_sender_names_the_sender_not_the_request(gateway, capsys):
    """With only MessagingServiceSid, routing chose the sender: the sender-ID gate's source is that
    sender and its kind, not a `From` the request never had."""
    code, out, _ = run(
        capsys,
        "--account",
        gateway.account,
        "--service",
        gateway.service,
        "--to",
        US_MOBILE,
        "--body",
        "Hi",
        "--at",
        AT,
        "--json",
    )
    [gate] = [g for g in json.loads(out)["gates"] if g["gate"] == "sender_id"]
    assert (code, gate["verdict"], gate["source"]) == (0, "skip", f"sender {US_SENDER} (long_code)")


def test_explain_into_a_closed_pipe_exits_without_a_traceback(gateway):
    """`gateway explain --json | head` whose reader is gone: no BrokenPipeError traceback on stderr."""
    import os
    import subprocess
    import sys

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "explain",
            "--account",
            gateway.account,
            "--service",
            gateway.service,
            "--to",
            US_MOBILE,
            "--body",
            "Hi",
            "--at",
            AT,
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
        cwd=ROOT,
    )
    assert process.stdout is not None
    process.stdout.close()  # the reader is gone before the command writes
    _, err = process.communicate(timeout=60)
    assert (process.returncode, err.decode()) == (0, "")
