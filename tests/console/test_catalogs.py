"""The console's strings are in its own Babel catalogs: the template is current and every language translates it."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from tests.conftest import ROOT

CONSOLE = ROOT / "gateway" / "console"
TEMPLATE = ROOT / "locales" / "console.pot"
#: The sentences of a message's reasons, which the console shows in the reader's language.
REASONS = ROOT / "gateway" / "compliance" / "reasons.py"


def _ids(path: Path) -> set[object]:
    with path.open("rb") as handle:
        return {m.id for m in read_po(handle) if m.id}


def test_console_pot_holds_every_string_of_the_console():
    """locales/console.pot is what `pybabel extract -F gateway/console/babel.cfg` finds today in the
    console and the reasons' sentences."""
    with (CONSOLE / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    extracted = [message for _, _, message, _, _ in extract_from_dir(CONSOLE, method_map, options_map)]
    extracted += [message for _, message, _, _ in extract_from_file("python", REASONS)]
    found = {message if isinstance(message, str) else tuple(message) for message in extracted}
    assert found == _ids(TEMPLATE)


def test_every_console_catalog_translates_every_string():
    """No language's console.po has an untranslated or fuzzy entry."""
    catalogs = sorted((ROOT / "locales").glob("*/LC_MESSAGES/console.po"))
    assert catalogs, "no console catalog besides the English source"
    for path in catalogs:
        with path.open("rb") as handle:
            catalog = read_po(handle)
        untranslated = [
            m.id
            for m in catalog
            if m.id and (m.fuzzy or not all(m.string if isinstance(m.string, tuple) else [m.string]))
        ]
        assert not untranslated, f"{path}: {untranslated}"
        assert {m.id for m in catalog if m.id} == _ids(TEMPLATE), f"{path} is not updated from console.pot"
