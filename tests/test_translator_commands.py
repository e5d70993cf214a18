"""The translators' commands in README.md, run on the shipped catalogs with no English change,
write nothing: no catalog re-wrapped, no header touched, so the policy revision stays."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tests.demo import VENV_BIN


def readme_commands() -> list[str]:
    """The README's `pybabel extract` and `pybabel update` lines, comments dropped, in order."""
    found = re.findall(r"^\.venv/bin/(pybabel (?:extract|update) .*)$", (ROOT / "README.md").read_text(), re.MULTILINE)
    return [line.split("  #")[0].strip() for line in found]


def snapshot(locales: Path) -> dict[str, bytes]:
    return {str(path.relative_to(locales)): path.read_bytes() for path in sorted(locales.rglob("*")) if path.is_file()}


def test_updating_the_catalogs_without_an_english_change_writes_nothing(tmp_path):
    commands = readme_commands()
    assert len(commands) == 4, commands  # gateway and console: extract, update
    shutil.copytree(ROOT / "gateway", tmp_path / "gateway", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "locales", tmp_path / "locales")
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    before = snapshot(tmp_path / "locales")
    for command in commands:
        argv = shlex.split(command)
        done = subprocess.run(
            [str(VENV_BIN / argv[0]), *argv[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
    after = snapshot(tmp_path / "locales")
    assert [name for name in before if before[name] != after.get(name)] == [] and after.keys() == before.keys()
