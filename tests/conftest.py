"""Shared fixtures: real example numbers, throwaway policy trees, the shipped policy."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import phonenumbers
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from gateway.dates import CLOCK, Clock
from gateway.locales import REPLIES, Catalogs
from gateway.policy.loader import load_policies
from gateway.policy.matcher import Matcher
from gateway.store.db import make_engine, migrate
from gateway.tokens import TokenCipher

ROOT = Path(__file__).resolve().parent.parent
#: The key the tests' gateways seal auth tokens with (PostgreSQL needs one set; on SQLite a gateway
#: without it makes a key file beside the database, which tests/test_tokens.py covers).
SECRET_KEY = Fernet.generate_key().decode()
TEST_CIPHER = TokenCipher([SECRET_KEY], "tests")


def example_mobile(region: str) -> str:
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


US_MOBILE = example_mobile("US")  # +12015550123
CA_MOBILE = example_mobile("CA")
MX_MOBILE = example_mobile("MX")
FR_MOBILE = example_mobile("FR")
DE_MOBILE = example_mobile("DE")
ES_MOBILE = example_mobile("ES")
BR_MOBILE = example_mobile("BR")
JP_MOBILE = example_mobile("JP")
CH_MOBILE = example_mobile("CH")
GB_MOBILE = example_mobile("GB")


@pytest.fixture
def clock() -> Iterator[Clock]:
    """The gateway's clock (`gateway.dates.CLOCK`) to set and advance; the system's time again after
    the test.  Ask for it before `stack`, so that it is reset after the gateway stopped."""
    yield CLOCK
    CLOCK.reset()


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server for the session (skips, saying how to enable it, without binaries)."""
    from tests.postgres import HOW_TO_ENABLE, binaries, postgres_server

    if binaries() is None:
        pytest.skip(HOW_TO_ENABLE)
    with postgres_server() as base_url:
        yield base_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Tests that take this run on the embedded default and on the scale-out store."""
    from tests.postgres import new_database

    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    return new_database(request.getfixturevalue("postgres"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the migrated database; a test's several `Accounts` on it stand for processes."""
    migrate(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def shipped() -> Matcher:
    """The policy the gateway ships with, loaded once."""
    result = load_policies(ROOT / "policies", Catalogs.load(ROOT / "locales"))
    assert result.policy is not None, "\n".join(map(str, result.errors))
    return Matcher(result.policy)


@pytest.fixture(scope="session")
def shipped_catalogs() -> Catalogs:
    return Catalogs.load(ROOT / "locales")


MINIMAL_GLOBAL = """\
    language = "en"
    mode = "exact"

    [opt_out]
    keywords = ["STOP", "STOPALL", "OPT OUT"]
    account_wide = ["STOPALL"]
    phrases = ["REMOVE ME"]
    reply = "opt_out"

    [opt_in]
    keywords = ["START", "UNSTOP"]
    reply = "opt_in"

    [help]
    keywords = ["HELP"]
    reply = "help"
"""


def language_file(language: str, stop: str, start: str, help: str, fold: bool = True) -> str:
    return textwrap.dedent(f"""\
        language = "{language}"
        fold_diacritics = {"true" if fold else "false"}

        [opt_out]
        keywords = [{stop}]
        reply = "opt_out"

        [opt_in]
        keywords = [{start}]
        reply = "opt_in"

        [help]
        keywords = [{help}]
        reply = "help"
    """)


@pytest.fixture
def policy_tree(tmp_path: Path) -> Callable[[Mapping[str, str]], tuple[Path, Path]]:
    """Write policy files (relative path → text) and catalogs translating every reply
    for every language file written; returns (policies_dir, locales_dir)."""

    def write(files: Mapping[str, str], translated: tuple[str, ...] | None = None) -> tuple[Path, Path]:
        policies, locales = tmp_path / "policies", tmp_path / "locales"
        for relative, text in {"global.toml": MINIMAL_GLOBAL, **files}.items():
            path = policies / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        languages = (
            translated if translated is not None else tuple(Path(r).stem for r in files if r.startswith("languages/"))
        )
        for language in languages:
            catalog = Catalog(locale=language, domain="gateway")
            for source in REPLIES.values():
                catalog.add(source, f"[{language}] {source}")
            path = locales / language / "LC_MESSAGES" / "gateway.po"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                write_po(handle, catalog)
        locales.mkdir(parents=True, exist_ok=True)
        return policies, locales

    return write
