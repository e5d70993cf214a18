"""Configuration from GATEWAY_* environment variables, read once into a frozen object."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.errors import SettingsError
from gateway.lifecycle import MAX_SCHEDULE_AHEAD, SCHEDULED_LIMIT
from gateway.providers import MODULES, ProviderSettings
from gateway.providers.module import variable
from gateway.shipped import shipped

MIN_LEASE_TTL = 3.0
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Settings(ProviderSettings):  # each provider's fields are declared by its module (gateway/providers)
    database_url: str = "sqlite:///./gateway.db"
    policies_dir: Path = shipped("policies")  # the shipped files: the checkout's, else the package's copy
    locales_dir: Path = shipped("locales")
    public_url: str | None = None  # as providers see us; signatures are computed on it
    host: str = "127.0.0.1"
    port: int = 8080
    policy_reload_interval: float = 0.5  # seconds between checks for edited policy files
    default_provider: str | None = None  # provider of senders registered without one; see `provider_default`
    workers: bool = True  # run dispatch and forwarding in this process
    simulator: bool = False  # mount the provider simulator at /sim (demos and tests, never production)
    simulator_token: str | None = None  # signs the simulator's webhooks; random per start when unset
    simulator_delay: float = 0.5  # seconds between the simulator's status callbacks
    simulator_failures: str = ""  # "+1500=30003,+44770=21614": To prefix = error code
    provider_failure_window: float = 10.0  # seconds of only timeouts/5xx before a provider is unhealthy
    provider_probe_interval: float = 5.0  # seconds between half-open probes of an unhealthy provider
    simulator_url: str | None = None  # where the sim provider sends; default: this gateway's /sim
    webhook_max_bytes: int = 65536  # provider webhook bodies above this are answered 413
    api_rate_limit: float = 1000.0  # API requests per second per account, all processes together (429 beyond)
    api_rate_burst: int = 2000  # API requests an account may make at once before the rate applies
    api_processes: int = (
        1  # the processes of this `serve` (`--workers N` sets it): each one's part of the rate limit alone
    )
    auth_failure_burst: int = 20  # failed sign-ins one client address may make before 429
    auth_failure_account_burst: int = 5  # failed sign-ins as one AccountSid from one address before 429
    auth_failure_rate: float = 0.1  # failed sign-ins a second given back to those budgets
    http_connect_timeout: float = 5.0  # seconds to connect to a provider or app, and to wait for a pooled connection
    http_timeout: float = 10.0  # seconds to send a request's body, and to wait for each part of the answer
    secret_key: str | None = None  # Fernet keys encrypting auth tokens at rest: "new,old,…"; see `tokens`
    secret_key_file: Path | None = None  # a file holding them, one a line (SQLite's default: beside the database)
    forward_retry_horizon: float = 86400.0  # seconds app deliveries are retried before they are dead letters
    lease_ttl: float = 10.0  # seconds a dead worker's senders stay with it before another takes them
    worker_id: str | None = None  # a stable name lets a restarted worker resume its own leases at once
    schedule_min_seconds: int = 900  # SendAt must be at least this far ahead (Twilio's pages say 900 or 300)
    scheduled_limit: int = SCHEDULED_LIMIT  # messages scheduled by SendAt an account may have waiting (35125)
    metrics_token: str | None = None  # the bearer token /metrics asks for; /metrics is off without one
    metrics_dir: Path | None = None  # where the processes of one machine share their metrics (see observability)
    log_format: str = "text"  # text | json
    callback_allow_networks: str = ""  # CIDR networks app callbacks may reach beyond public addresses: "10.0.0.0/8,…"
    link_domain: str | None = (
        None  # short links' domain (host[/path]) for services naming none; default: public URL + /l
    )
    link_lifetime_days: float = 90.0  # how long a short link redirects; then to its service's LinkFallbackUrl
    shared: bool = False  # one of `serve --workers N`'s processes: others write the database too (not a variable)

    @property
    def embedded(self) -> bool:
        """SQLite: one machine (one `gateway serve`, with one or several processes)."""
        return self.database_url.startswith("sqlite")

    @property
    def alone(self) -> bool:
        """SQLite in one process: nothing else changes the database, so the caches and queue counts
        need no checking, and what an earlier life left claimed is taken back at start."""
        return self.embedded and not self.shared

    @property
    def local_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def provider_default(self) -> str:
        """The simulator's own numbers in a demo; real ones otherwise."""
        return self.default_provider or ("sim" if self.simulator else "twilio")

    @property
    def loopback_only(self) -> bool:
        return self.host in ("127.0.0.1", "::1", "localhost") or self.host.startswith("127.")

    @property
    def simulator_token_file(self) -> Path | None:
        """Where `serve` leaves the simulator's token for `gateway sim inbound`: beside the SQLite file."""
        if not self.database_url.startswith("sqlite:///"):
            return None
        database = self.database_url.removeprefix("sqlite:///").split("?", 1)[0]
        return Path(database + ".sim-token") if database and database != ":memory:" else None

    def webhook_secrets(self) -> dict[str, str]:
        """Each provider's webhook-signing secret; a provider without one has its webhooks refused."""
        secrets = {name: module.secret(self)[1] for name, module in MODULES.items() if module.webhooks}
        return {name: secret for name, secret in secrets.items() if secret}

    def missing_secrets(self) -> dict[str, str]:
        """Provider → the variable that would enable its webhooks, for those without a secret (a
        provider with a link has no webhooks: its reports arrive over the link)."""
        needed = {name: module.secret(self) for name, module in MODULES.items() if module.webhooks}
        return {name: variable for name, (variable, secret) in needed.items() if not secret}

    def missing_credentials(self) -> dict[str, str]:
        """Provider → the variables it still needs to send, for those that cannot."""
        needed = {name: module.missing_to_send(self) for name, module in MODULES.items()}
        return {name: ", ".join(variables) for name, variables in needed.items() if variables}

    def unusable_providers(self) -> dict[str, str]:
        """Provider → every variable it lacks to both send and have its webhooks verified: a number
        of such a provider could neither send nor be told about its replies and reports, so it is
        refused at registration (the one rule for every provider, the simulator included)."""
        credentials, secrets = self.missing_credentials(), self.missing_secrets()
        unusable = {}
        for name in sorted(credentials.keys() | secrets.keys()):
            variables = [credentials.get(name, ""), secrets.get(name, "")]
            unusable[name] = ", ".join(dict.fromkeys(v for part in variables for v in part.split(", ") if v))
        return unusable

    def failures(self) -> dict[str, int]:
        """The simulator's failure table from GATEWAY_SIMULATOR_FAILURES."""
        table = {}
        for item in filter(None, (part.strip() for part in self.simulator_failures.split(","))):
            prefix, _, code = item.partition("=")
            if not code.isdigit():
                raise SettingsError(f"GATEWAY_SIMULATOR_FAILURES: {item!r} is not PREFIX=CODE")
            table[prefix.strip()] = int(code)
        return table

    def callback_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The networks of GATEWAY_CALLBACK_ALLOW_NETWORKS (see `forwarding.destinations`)."""
        networks = []
        for item in filter(None, (part.strip() for part in self.callback_allow_networks.split(","))):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise SettingsError(
                    f"GATEWAY_CALLBACK_ALLOW_NETWORKS: {item!r} is not a CIDR network (e.g. 10.0.0.0/8 or fd00::/8)"
                ) from None
        return tuple(networks)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


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
        raise SettingsError(
            f"GATEWAY_DATABASE_URL={database_url!r} is not a database URL "
            "(e.g. sqlite:///./gateway.db or postgresql+psycopg://user@host/db)"
        )
    port = int(number("PORT", int, defaults.port))
    if port > 65535:
        raise SettingsError(f"GATEWAY_PORT={port} is not a TCP port")

    def flag(name: str, default: bool) -> bool:
        raw = get(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"GATEWAY_{name}={raw!r} must be true or false")

    def folder(name: str, default: Path, remedy: str) -> Path:
        """A folder the gateway reads files from: a missing one is one error, not one per file."""
        raw = get(name)
        if raw is None:
            return default
        if not Path(raw).is_dir():
            raise SettingsError(f"GATEWAY_{name}={raw!r}: no such folder ({remedy})")
        return Path(raw)

    provider = get("DEFAULT_PROVIDER")
    if provider not in (None, *MODULES):
        raise SettingsError(f"GATEWAY_DEFAULT_PROVIDER={provider!r} must be one of {', '.join(MODULES)}")
    providers: dict[str, Any] = {}  # every provider module's settings, as it declares them
    for field in (field for module in MODULES.values() for field in module.fields()):
        if isinstance(field.default, float):
            providers[field.name] = number(field.name.upper(), float, field.default)
            continue
        value = get(field.name.upper()) or str(field.default)
        if field.metadata["url"]:
            value = value.rstrip("/")
        if choices := field.metadata["choices"]:
            value = value.lower()
            if value not in choices:
                raise SettingsError(f"{variable(field)}={value!r} must be one of {', '.join(choices)}")
        if value and (check := field.metadata["check"]) is not None:
            try:
                check(value)
            except ValueError as exc:
                raise SettingsError(f"{variable(field)}={value!r}: {exc}") from None
        providers[field.name] = value
    log_format = (get("LOG_FORMAT") or defaults.log_format).lower()
    if log_format not in LOG_FORMATS:
        raise SettingsError(f"GATEWAY_LOG_FORMAT={log_format!r} must be one of {', '.join(LOG_FORMATS)}")
    settings = settings_type()(
        database_url=database_url,
        policies_dir=folder(
            "POLICIES_DIR", defaults.policies_dir, "`gateway policy init DIR` copies the shipped policies to DIR"
        ),
        locales_dir=folder(
            "LOCALES_DIR",
            defaults.locales_dir,
            "`gateway policy init DIR --locales LDIR` copies the shipped translations to LDIR",
        ),
        public_url=public_url,
        host=get("HOST") or defaults.host,
        port=port,
        policy_reload_interval=number("POLICY_RELOAD_INTERVAL", float, defaults.policy_reload_interval),
        default_provider=provider,
        workers=flag("WORKERS", defaults.workers),
        simulator=flag("SIMULATOR", defaults.simulator),
        simulator_token=get("SIMULATOR_TOKEN"),
        simulator_delay=number("SIMULATOR_DELAY", float, defaults.simulator_delay),
        simulator_failures=get("SIMULATOR_FAILURES") or "",
        **providers,
        provider_failure_window=number("PROVIDER_FAILURE_WINDOW", float, defaults.provider_failure_window),
        provider_probe_interval=number("PROVIDER_PROBE_INTERVAL", float, defaults.provider_probe_interval),
        simulator_url=(get("SIMULATOR_URL") or "").rstrip("/") or None,
        webhook_max_bytes=int(number("WEBHOOK_MAX_BYTES", int, defaults.webhook_max_bytes)),
        api_rate_limit=number("API_RATE_LIMIT", float, defaults.api_rate_limit),
        api_rate_burst=int(number("API_RATE_BURST", int, defaults.api_rate_burst)),
        api_processes=int(number("API_PROCESSES", int, defaults.api_processes)),
        auth_failure_burst=int(number("AUTH_FAILURE_BURST", int, defaults.auth_failure_burst)),
        auth_failure_account_burst=int(number("AUTH_FAILURE_ACCOUNT_BURST", int, defaults.auth_failure_account_burst)),
        auth_failure_rate=number("AUTH_FAILURE_RATE", float, defaults.auth_failure_rate),
        http_connect_timeout=number("HTTP_CONNECT_TIMEOUT", float, defaults.http_connect_timeout),
        http_timeout=number("HTTP_TIMEOUT", float, defaults.http_timeout),
        secret_key=get("SECRET_KEY"),
        secret_key_file=Path(key_file) if (key_file := get("SECRET_KEY_FILE")) else None,
        forward_retry_horizon=number("FORWARD_RETRY_HORIZON", float, defaults.forward_retry_horizon),
        lease_ttl=number("LEASE_TTL", float, defaults.lease_ttl),
        worker_id=get("WORKER_ID"),
        schedule_min_seconds=int(number("SCHEDULE_MIN_SECONDS", int, defaults.schedule_min_seconds)),
        scheduled_limit=int(number("SCHEDULED_LIMIT", int, defaults.scheduled_limit)),
        metrics_token=get("METRICS_TOKEN"),
        metrics_dir=Path(metrics_dir) if (metrics_dir := get("METRICS_DIR")) else None,
        log_format=log_format,
        callback_allow_networks=get("CALLBACK_ALLOW_NETWORKS") or "",
        link_domain=_link_domain(get("LINK_DOMAIN")),
        link_lifetime_days=number("LINK_LIFETIME_DAYS", float, defaults.link_lifetime_days),
    )
    if settings.lease_ttl < MIN_LEASE_TTL:
        raise SettingsError(
            f"GATEWAY_LEASE_TTL={settings.lease_ttl:g} must be at least {MIN_LEASE_TTL:g} seconds "
            "(a holder stops sending 2 s before its lease lapses)"
        )
    if settings.schedule_min_seconds >= MAX_SCHEDULE_AHEAD.total_seconds():
        raise SettingsError(
            f"GATEWAY_SCHEDULE_MIN_SECONDS={settings.schedule_min_seconds} leaves no time to schedule "
            f"in: SendAt may be at most {MAX_SCHEDULE_AHEAD.days} days ahead"
        )
    if settings.worker_id is not None and len(settings.worker_id) > 48:
        raise SettingsError("GATEWAY_WORKER_ID must be at most 48 characters")
    settings.failures()  # a bad table stops the start, naming the variable
    settings.callback_networks()  # and so does a bad network
    return settings


def _link_domain(value: str | None) -> str | None:
    """GATEWAY_LINK_DOMAIN: a host with an optional port and path, written without a scheme (links
    are https, or without a scheme where a service sets DisableHttps)."""
    if value is None:
        return None
    domain = value.strip().rstrip("/")
    if "://" in domain or not domain or any(c.isspace() for c in domain):
        raise SettingsError(f"GATEWAY_LINK_DOMAIN={value!r} must be a host and optional path, without a scheme")
    return domain


def settings_type() -> type[Settings]:
    """`Settings`, which inherits every built-in module's settings class; for a module registered
    without being listed in `ProviderSettings` (a test's fake provider), a subclass with its fields."""
    extra = tuple(
        module.settings
        for module in MODULES.values()
        if module.settings is not None and not issubclass(Settings, module.settings)
    )
    if not extra:
        return Settings
    combined: type[Settings] = dataclass(frozen=True)(type("Settings", (Settings, *extra), {}))
    return combined
