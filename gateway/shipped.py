"""The policies and translations the gateway ships with, wherever it runs from.

They live at the repository's top level (`policies/`, `locales/`); the wheel carries them inside
the package as `gateway/_shipped/` (setup.py's build step copies them there).  An installed
gateway reads that copy through `importlib.resources`; one run from a checkout (`make run`, the
editable install) has no such copy and reads the checkout's own folders.  Staff serve their own
edited copy with GATEWAY_POLICIES_DIR / GATEWAY_LOCALES_DIR, starting from `copy_to`.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Literal

Shipped = Literal["policies", "locales"]
CHECKOUT = Path(__file__).resolve().parent.parent


def shipped(name: Shipped) -> Path:
    """The folder of the shipped `name`: the package's copy when installed, else the checkout's."""
    packaged = resources.files(__package__ or "gateway") / "_shipped" / name
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return CHECKOUT / name


class NotEmpty(Exception):
    """A destination already holds files: copying could overwrite someone's edits."""

    def __init__(self, destination: Path) -> None:
        super().__init__(f"{destination} is not an empty folder")
        self.destination = destination


def copy_to(copies: Mapping[Shipped, Path]) -> None:
    """Copy each shipped folder into its destination (made if missing) for staff to edit.  If any
    destination already holds something, `NotEmpty` names it and nothing at all is copied."""
    for destination in copies.values():
        if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
            raise NotEmpty(destination)
    for name, destination in copies.items():
        shutil.copytree(shipped(name), destination, dirs_exist_ok=True)
