"""The `gateway` command as staff use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from gateway.cli import default_processes, main
from gateway.settings import Settings
from tests.conftest import FR_MOBILE, ROOT, US_MOBILE


@pytest.fixture(autouse=True)
def shipped_paths(monkeypatch):
    monkeypatch.setenv("GATEWAY_POLICIES_DIR", str(ROOT / "policies"))
    monkeypatch.setenv("GATEWAY_LOCALES_DIR", str(ROOT / "locales"))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_policy_check_passes_on_the_shipped_policies(capsys):
    code, out, _ = run(capsys, "policy", "check")
    assert code == 0 and "valid, revision" in out


def test_policy_check_fails_with_file_line_key(capsys, tmp_path):
    policies = tmp_path / "p"
    shutil.copytree(ROOT / "policies", policies)
    german = policies / "languages" / "de.toml"
    german.write_text(german.read_text().replace('reply = "help"', 'reply = "hilfe"'))
    code, out, _ = run(capsys, "policy", "check", str(policies))
    assert code == 1
    assert any(
        line.startswith("error: languages/de.toml:") and "help.reply: unknown reply 'hilfe'" in line
        for line in out.splitlines()
    )


def test_policy_test_prints_one_json_decision(capsys):
    code, out, _ = run(capsys, "policy", "test", "--from", FR_MOBILE, "Arrêt")
    decision = json.loads(out)
    assert code == 0
    assert {k: decision[k] for k in ("kind", "language", "country")} == {
        "kind": "STOP",
        "language": "fr",
        "country": "FR",
    }
    assert decision["reply"] and decision["policy_revision"]


def test_policy_test_for_no_keyword_prints_nulls(capsys):
    _, out, _ = run(capsys, "policy", "test", "--from", US_MOBILE, "--mode", "exact", "see you tomorrow")
    assert json.loads(out)["kind"] is None and json.loads(out)["reply"] is None


def test_policy_test_batch_with_expect_fails_on_a_difference(capsys, tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        "\n".join(
            json.dumps(c)
            for c in [
                {"from": US_MOBILE, "body": "STOP", "expect": {"kind": "STOP"}},
                {"from": US_MOBILE, "body": "hello", "expect": {"kind": "STOP"}},
            ]
        )
        + "\n"
    )
    code, out, err = run(capsys, "policy", "test", "--batch", str(cases), "--expect")
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and len(results) == 2
    assert "differences" not in results[0] and results[1]["differences"] == {"kind": {"expected": "STOP", "got": None}}
    assert "1 line(s) failed" in err


def test_policy_test_batch_reports_bad_lines_with_their_number(capsys, tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"body": "STOP"}\nnot json\n')
    code, out, _ = run(capsys, "policy", "test", "--batch", str(cases))
    assert code == 1 and json.loads(out.splitlines()[1])["line"] == 2


def test_policy_test_batch_reads_stdin():
    """`--batch -` reads JSON lines from standard input, as a pipeline does."""
    completed = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "policy", "test", "--batch", "-"],
        input=json.dumps({"from": US_MOBILE, "body": "AYUDA"}) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert json.loads(completed.stdout)["language"] == "es"


def test_segments_prints_encoding_and_count(capsys):
    _, out, _ = run(capsys, "segments", "Hello €")
    assert json.loads(out) == {"encoding": "GSM-7", "segments": 1, "characters": 8, "text": "Hello €"}


def test_segments_smart_replaces_curly_quotes(capsys):
    _, out, _ = run(capsys, "segments", "--smart", "“Hi”")
    assert json.loads(out)["encoding"] == "GSM-7" and json.loads(out)["text"] == '"Hi"'


def test_bad_setting_names_the_variable(capsys, monkeypatch):
    monkeypatch.setenv("GATEWAY_PORT", "eighty")
    code, _, err = run(capsys, "migrate")
    assert code == 2 and "GATEWAY_PORT='eighty' is not an integer" in err


def test_migrate_creates_the_schema(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'g.db'}")
    code, out, _ = run(capsys, "migrate")
    assert code == 0 and "up to date" in out and (tmp_path / "g.db").exists()


def test_shipped_regression_file_passes_with_expect(capsys):
    """The staff regression file of field messages passes against the shipped policy."""
    code, _, err = run(capsys, "policy", "test", "--batch", str(ROOT / "tests" / "data" / "keywords.jsonl"), "--expect")
    assert code == 0, err


def test_serve_runs_one_process_per_core_by_default(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert default_processes(Settings()) == 2


def test_serve_runs_at_most_four_processes_by_default(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert default_processes(Settings()) == 4


def test_serve_runs_one_process_by_default_when_the_worker_is_named(monkeypatch):
    """GATEWAY_WORKER_ID names one worker: several processes would share the name."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert default_processes(Settings(worker_id="worker-a")) == 1


def test_a_lease_shorter_than_the_stop_margin_is_refused(capsys, monkeypatch):
    monkeypatch.setenv("GATEWAY_LEASE_TTL", "2")
    code, _, err = run(capsys, "worker")
    assert code == 2 and "GATEWAY_LEASE_TTL=2 must be at least 3 seconds" in err


def test_a_forward_retry_horizon_of_zero_is_refused(capsys, monkeypatch):
    """Deliveries need some time to be retried in: GATEWAY_FORWARD_RETRY_HORIZON=0 stops the start, naming it."""
    monkeypatch.setenv("GATEWAY_FORWARD_RETRY_HORIZON", "0")
    code, _, err = run(capsys, "worker")
    assert code == 2 and "GATEWAY_FORWARD_RETRY_HORIZON='0' must be positive" in err


def test_a_callback_network_that_is_no_cidr_network_is_refused_naming_the_variable(capsys, monkeypatch):
    monkeypatch.setenv("GATEWAY_CALLBACK_ALLOW_NETWORKS", "10.0.0.0/8, intranet")
    code, _, err = run(capsys, "worker")
    assert code == 2 and "GATEWAY_CALLBACK_ALLOW_NETWORKS: 'intranet' is not a CIDR network" in err


def test_one_worker_name_for_several_serve_processes_is_refused(capsys, monkeypatch):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+psycopg://gateway@127.0.0.1:9/none")
    monkeypatch.setenv("GATEWAY_WORKER_ID", "worker-a")
    code, _, err = run(capsys, "serve", "--workers", "2")
    assert code == 2 and "every process would share it" in err


def test_version_prints_the_installed_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out == f"gateway {version('optout-gateway')}\n"


def test_worker_refuses_sqlite_naming_postgresql(capsys, monkeypatch, tmp_path):
    """On SQLite `gateway serve`'s processes run dispatch and forwarding themselves."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'gateway.db'}")
    code, _, err = run(capsys, "worker")
    assert code == 2 and "`gateway worker` needs PostgreSQL" in err and "`gateway serve [--workers N]`" in err
    assert not (tmp_path / "gateway.db").exists()  # refused before touching anything


def test_a_missing_locales_folder_is_one_error_naming_the_variable(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GATEWAY_LOCALES_DIR", str(tmp_path / "nonexistent"))
    code, out, err = run(capsys, "policy", "check")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"gateway: GATEWAY_LOCALES_DIR='{tmp_path / 'nonexistent'}': no such folder "
        "(`gateway policy init DIR --locales LDIR` copies the shipped translations to LDIR)"
    ]


def test_a_missing_policies_folder_is_one_error_naming_the_variable(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("GATEWAY_POLICIES_DIR", str(tmp_path / "nonexistent"))
    code, _, err = run(capsys, "policy", "check")
    assert code == 2 and f"GATEWAY_POLICIES_DIR='{tmp_path / 'nonexistent'}': no such folder" in err


def test_policy_init_copies_the_shipped_policies_and_translations_for_editing(capsys, monkeypatch, tmp_path):
    """Made even while the variables already name the new folders (staff set them first)."""
    policies, locales = tmp_path / "policies", tmp_path / "locales"
    monkeypatch.setenv("GATEWAY_POLICIES_DIR", str(policies))
    monkeypatch.setenv("GATEWAY_LOCALES_DIR", str(locales))
    code, out, _ = run(capsys, "policy", "init", str(policies), "--locales", str(locales))
    assert code == 0 and f"GATEWAY_POLICIES_DIR={policies}" in out and f"GATEWAY_LOCALES_DIR={locales}" in out
    assert (policies / "global.toml").read_text() == (ROOT / "policies" / "global.toml").read_text()
    assert (locales / "fr" / "LC_MESSAGES" / "gateway.po").is_file()
    code, out, _ = run(capsys, "policy", "check")
    assert code == 0 and f"{policies}: valid" in out


def test_policy_init_refuses_a_folder_with_files_and_copies_nothing(capsys, tmp_path):
    """One destination holding files stops the whole copy: no file is overwritten, no half copy is left."""
    fresh, edited = tmp_path / "fresh", tmp_path / "edited"
    edited.mkdir()
    (edited / "global.toml").write_text("# staff's own edits\n")
    code, _, err = run(capsys, "policy", "init", str(fresh), "--locales", str(edited))
    assert code == 1 and f"{edited} is not an empty folder; nothing copied" in err
    assert (edited / "global.toml").read_text() == "# staff's own edits\n" and not fresh.exists()
