"""Configuration from GATEWAY_* environment variables, read once into a frozen object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from gateway.errors import SettingsError


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///./gateway.db"
    policies_dir: Path = Path("policies")
    locales_dir: Path = Path("locales")
    public_url: str | None = None  # as providers see us; signatures are computed on it
    host: str = "127.0.0.1"
    port: int = 8080
    policy_reload_interval: float = 0.5  # seconds between checks for edited policy files

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Build settings from the environment; a bad value raises naming its variable."""
    defaults = Settings()

    def get(name: str) -> str | None:
        value = environ.get(f"GATEWAY_{name}")
        return value if value not in (None, "") else None

    def number(name: str, kind: type[int] | type[float], default: float) -> float:
        raw = get(name)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise SettingsError(f"GATEWAY_{name}={raw!r} is not {expected}") from None
        if value <= 0:
            raise SettingsError(f"GATEWAY_{name}={raw!r} must be positive")
        return value

    public_url = get("PUBLIC_URL")
    if public_url is not None:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(f"GATEWAY_PUBLIC_URL={public_url!r} must be an absolute http(s) URL")
        public_url = public_url.rstrip("/")
    database_url = get("DATABASE_URL") or defaults.database_url
    if "://" not in database_url:
        raise SettingsError(f"GATEWAY_DATABASE_URL={database_url!r} is not a database URL "
                            "(e.g. sqlite:///./gateway.db or postgresql+psycopg://user@host/db)")
    port = int(number("PORT", int, defaults.port))
    if port > 65535:
        raise SettingsError(f"GATEWAY_PORT={port} is not a TCP port")
    return Settings(
        database_url=database_url,
        policies_dir=Path(get("POLICIES_DIR") or defaults.policies_dir),
        locales_dir=Path(get("LOCALES_DIR") or defaults.locales_dir),
        public_url=public_url,
        host=get("HOST") or defaults.host,
        port=port,
        policy_reload_interval=number("POLICY_RELOAD_INTERVAL", float, defaults.policy_reload_interval),
    )
