"""Auth tokens at rest: sealed with Fernet, keys from settings or SQLite's key file, rotation of tokens and keys."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from gateway.accounts import Accounts
from gateway.cli import main
from gateway.demo import ensure_demo
from gateway.errors import AuthenticationFailed, SettingsError
from gateway.settings import Settings, load_settings
from gateway.store.db import make_engine, migrate
from gateway.store.tables import Account
from gateway.tokens import TokenCipher, token_cipher
from tests.poll import wait_until

OLD_TOKEN = "f" * 32  # what `ids.new_token` made before tokens were sealed


def basic(sid: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode()


def signs_in(accounts: Accounts, sid: str, token: str) -> str:
    """The AccountSid `accounts` lets in with these credentials (AuthenticationFailed otherwise)."""
    return asyncio.run(accounts.authenticate(basic(sid, token)))


def stored_token(url: str, sid: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(select(Account.auth_token).where(Account.sid == sid)).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def settings(database_url: str, engine: Engine) -> Settings:
    """Settings as the environment gives them: PostgreSQL with a key, SQLite with none (its key file)."""
    key = None if database_url.startswith("sqlite") else Fernet.generate_key().decode()
    return Settings(database_url=database_url, secret_key=key)


@pytest.fixture
def accounts_of(settings: Settings, engine: Engine) -> Callable[..., Accounts]:
    def make(cache_seconds: float = 5.0) -> Accounts:
        return Accounts(engine, token_cipher(settings), cache_seconds)

    return make


def test_the_database_holds_the_token_sealed_not_in_clear(settings, accounts_of):
    """What is stored is a Fernet token that opens to the auth token; the token itself is nowhere in the row."""
    issued = accounts_of().create("Acme")
    stored = stored_token(settings.database_url, issued.sid)
    assert issued.auth_token not in stored
    assert token_cipher(settings).open(stored) == issued.auth_token


def test_sqlite_without_a_key_makes_an_owner_only_key_file_beside_the_database_and_keeps_it(tmp_path):
    """The first use writes `<db>.secret-key` (0600); later processes read the same key back."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'gateway.db'}")
    sealed = token_cipher(settings).seal("a token")
    path = tmp_path / "gateway.db.secret-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token_cipher(settings).open(sealed) == "a token"


def test_sqlite_makes_the_key_file_the_setting_names_when_it_is_missing(tmp_path):
    """As the settings table says: on SQLite the key file, the named one too, is made at first use."""
    path = tmp_path / "keys"
    settings = load_settings(
        {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}", "GATEWAY_SECRET_KEY_FILE": str(path)}
    )
    sealed = token_cipher(settings).seal("a token")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token_cipher(settings).open(sealed) == "a token"


def test_a_key_file_in_a_missing_folder_is_a_settings_error_naming_the_variable_and_the_file(tmp_path):
    path = tmp_path / "nowhere" / "keys"
    settings = load_settings(
        {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}", "GATEWAY_SECRET_KEY_FILE": str(path)}
    )
    with pytest.raises(SettingsError, match=f"GATEWAY_SECRET_KEY_FILE: cannot make {path}: No such file"):
        token_cipher(settings)


def test_postgresql_with_a_missing_key_file_is_a_settings_error_saying_it_must_exist(tmp_path):
    """A file one process made would hold a key the other machines lack: it is never made up."""
    path = tmp_path / "keys"
    settings = load_settings({"GATEWAY_DATABASE_URL": "postgresql://h/db", "GATEWAY_SECRET_KEY_FILE": str(path)})
    with pytest.raises(
        SettingsError, match=f"GATEWAY_SECRET_KEY_FILE='{path}': no such file; with PostgreSQL it must exist"
    ):
        token_cipher(settings)
    assert not path.exists()


def test_postgresql_without_a_key_is_a_settings_error_naming_the_variable():
    """Processes on several machines must share the key: no file is made up, and nothing is stored in clear."""
    settings = Settings(database_url="postgresql+psycopg://gateway@127.0.0.1:9/gateway")
    with pytest.raises(SettingsError, match="GATEWAY_SECRET_KEY"):
        token_cipher(settings)


def test_a_key_that_is_not_a_fernet_key_is_a_settings_error():
    settings = load_settings({"GATEWAY_SECRET_KEY": "not-a-key", "GATEWAY_DATABASE_URL": "postgresql://h/db"})
    with pytest.raises(SettingsError, match="GATEWAY_SECRET_KEY: not-… is not a Fernet key"):
        token_cipher(settings)


def test_a_key_file_setting_is_read_one_key_a_line(tmp_path: Path):
    """GATEWAY_SECRET_KEY_FILE serves PostgreSQL deployments that keep keys in a mounted file."""
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    (tmp_path / "keys").write_text(f"{first}\n{second}\n")
    settings = load_settings(
        {"GATEWAY_SECRET_KEY_FILE": str(tmp_path / "keys"), "GATEWAY_DATABASE_URL": "postgresql://h/db"}
    )
    assert token_cipher(settings).open(Fernet(second.encode()).encrypt(b"older").decode()) == "older"


@pytest.mark.parametrize("command", [["accounts", "create"], ["serve"], ["worker"]])
def test_cli_postgresql_command_without_a_key_exits_2_naming_the_variable(command, monkeypatch, capsys):
    """Said before anything starts or touches the database (the URL here leads nowhere)."""
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql+psycopg://gateway@127.0.0.1:9/none")
    monkeypatch.delenv("GATEWAY_SECRET_KEY", raising=False)
    assert main(command) == 2
    assert "GATEWAY_SECRET_KEY" in capsys.readouterr().err


def test_migrate_seals_the_tokens_stored_in_clear_before(database_url, monkeypatch):
    """An account made before tokens were sealed still authenticates with its token after `gateway migrate`."""
    migrate(database_url, "0010")
    engine = make_engine(database_url)
    sid = "AC" + "a" * 32
    with engine.begin() as connection:
        connection.execute(
            insert(Account.__table__).values(
                sid=sid, auth_token=OLD_TOKEN, friendly_name="", date_created=datetime.now(UTC)
            )
        )
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("GATEWAY_DATABASE_URL", database_url)
    monkeypatch.setenv("GATEWAY_SECRET_KEY", key)
    try:
        assert main(["migrate"]) == 0
        assert stored_token(database_url, sid) != OLD_TOKEN
        assert signs_in(Accounts(engine, TokenCipher([key], "test")), sid, OLD_TOKEN) == sid
    finally:
        engine.dispose()


def test_migrate_with_tokens_in_clear_and_no_key_stops_saying_what_to_set(postgres, monkeypatch, capsys):
    from tests.postgres import new_database

    url = new_database(postgres)
    migrate(url, "0010")
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(
            insert(Account.__table__).values(
                sid="AC" + "a" * 32, auth_token=OLD_TOKEN, friendly_name="", date_created=datetime.now(UTC)
            )
        )
    engine.dispose()
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    monkeypatch.delenv("GATEWAY_SECRET_KEY", raising=False)
    assert main(["migrate"]) == 2
    assert "GATEWAY_SECRET_KEY (or GATEWAY_SECRET_KEY_FILE) must be set" in capsys.readouterr().err


def test_rotate_token_prints_a_new_token_that_authenticates_and_refuses_the_old(
    settings, accounts_of, monkeypatch, capsys
):
    """`gateway accounts rotate-token AC…` without a grace period: the old token stops at once."""
    issued = accounts_of().create("Acme")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", settings.database_url)
    if settings.secret_key:
        monkeypatch.setenv("GATEWAY_SECRET_KEY", settings.secret_key)
    assert main(["accounts", "rotate-token", issued.sid, "--json"]) == 0
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["account_sid"] == issued.sid and rotated["auth_token"] != issued.auth_token
    accounts = accounts_of()
    assert signs_in(accounts, issued.sid, rotated["auth_token"]) == issued.sid
    with pytest.raises(AuthenticationFailed):
        signs_in(accounts, issued.sid, issued.auth_token)


def test_during_the_grace_period_both_tokens_authenticate(accounts_of):
    issued = accounts_of().create("Acme")
    rotated = accounts_of().rotate(issued.sid, timedelta(minutes=10))
    accounts = accounts_of()
    assert signs_in(accounts, issued.sid, issued.auth_token) == issued.sid
    assert signs_in(accounts, issued.sid, rotated.auth_token) == issued.sid
    assert accounts.token_of(issued.sid) == rotated.auth_token  # forwards are signed with the new one


def test_after_the_grace_period_the_old_token_is_refused(accounts_of):
    issued = accounts_of().create("Acme")
    accounts_of().rotate(issued.sid, timedelta(seconds=0.3))
    accounts = accounts_of(cache_seconds=0.0)
    time.sleep(0.4)
    with pytest.raises(AuthenticationFailed):
        signs_in(accounts, issued.sid, issued.auth_token)


def test_a_process_that_cached_the_old_token_takes_the_rotated_one_within_its_cache_time(accounts_of):
    """Another process (here another Accounts) rotates; this one's cache lapses and it reads the new token."""
    running = accounts_of(cache_seconds=0.2)
    issued = running.create("Acme")
    assert signs_in(running, issued.sid, issued.auth_token) == issued.sid
    rotated = accounts_of().rotate(issued.sid)
    assert wait_until(lambda: running.token_of(issued.sid) == rotated.auth_token, timeout=5)
    with pytest.raises(AuthenticationFailed):
        signs_in(running, issued.sid, issued.auth_token)


def test_a_new_key_put_first_still_opens_tokens_sealed_with_the_old_and_reencrypt_moves_them(engine):
    """Key rotation: GATEWAY_SECRET_KEY=new,old opens both; after `accounts reencrypt` the new key alone does."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    issued = Accounts(engine, TokenCipher([old], "old")).create("Acme")
    both = Accounts(engine, TokenCipher([new, old], "both"))
    assert signs_in(both, issued.sid, issued.auth_token) == issued.sid
    assert both.reencrypt() == 1
    alone = Accounts(engine, TokenCipher([new], "new"))
    assert signs_in(alone, issued.sid, issued.auth_token) == issued.sid


def test_a_token_sealed_with_a_key_no_longer_configured_is_refused_and_logged_without_the_token(engine, caplog):
    issued = Accounts(engine, TokenCipher([Fernet.generate_key().decode()], "gone")).create("A")
    other = Accounts(engine, TokenCipher([Fernet.generate_key().decode()], "other"))
    with pytest.raises(AuthenticationFailed):
        signs_in(other, issued.sid, issued.auth_token)
    assert "cannot be decrypted" in caplog.text and issued.auth_token not in caplog.text


def test_an_account_whose_key_was_lost_gets_a_working_token_from_rotate_token(engine):
    """Rotation needs no old token: after it the account authenticates again, grace period or not."""
    issued = Accounts(engine, TokenCipher([Fernet.generate_key().decode()], "lost")).create("A")
    accounts = Accounts(engine, TokenCipher([Fernet.generate_key().decode()], "current"), cache_seconds=0.0)
    rotated = accounts.rotate(issued.sid, timedelta(hours=1))
    assert signs_in(accounts, issued.sid, rotated.auth_token) == issued.sid


def test_the_demo_account_prints_the_same_token_on_every_start(settings, accounts_of):
    """`make run` reuses its demo account: the token printed is the one that authenticates, in clear."""
    first, again = ensure_demo(settings), ensure_demo(settings)
    assert first == again
    sid = first.split("account_sid ")[1].split()[0]
    token = first.split("auth_token  ")[1].split()[0]
    assert signs_in(accounts_of(), sid, token) == sid
