"""Twilio-shaped identifiers: a two-letter prefix and 32 hex digits."""

from __future__ import annotations

import re
import secrets

SID = re.compile(r"^[A-Z]{2}[0-9a-f]{32}$")


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def new_token() -> str:
    return secrets.token_hex(16)


def is_sid(value: str, prefix: str) -> bool:
    return value.startswith(prefix) and SID.match(value) is not None
