"""Auth tokens at rest: encrypted with Fernet, so a copy of the database does not give them away.

They cannot be hashed: the forwarder signs app webhooks with the account's token
(X-Twilio-Signature, as Twilio does), so the gateway must read the token back.

Keys.  `GATEWAY_SECRET_KEY` holds one or more Fernet keys, comma-separated, newest first: the
first encrypts, every one decrypts (`MultiFernet`).  A key is rotated by putting a new one first,
running `gateway accounts reencrypt`, then removing the old one.  Without the variable,
`GATEWAY_SECRET_KEY_FILE` names a file holding the keys, one a line; on SQLite the default file
is `<database>.secret-key` beside the database, and the file (that one or the one named) is made
(owner-only) at first use, as the simulator's token is.  PostgreSQL needs one or the other, and
its file must exist: its processes run on several machines, which must all hold the same key,
and a file one of them made would not be on the others.
There is never a plaintext fallback.  Make a key with:

    python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from gateway.errors import SettingsError
from gateway.settings import Settings

__all__ = ["InvalidToken", "TokenCipher", "key_file", "token_cipher"]


class TokenCipher:
    """Seal (encrypt) and open (decrypt) auth tokens with the configured keys, newest first."""

    def __init__(self, keys: Sequence[str], source: str) -> None:
        fernets = []
        for key in keys:
            try:
                fernets.append(Fernet(key.encode()))
            except ValueError:
                raise SettingsError(
                    f"{source}: {key[:4]}… is not a Fernet key (32 url-safe base64-encoded "
                    "bytes); make one with Fernet.generate_key()"
                ) from None
        if not fernets:
            raise SettingsError(f"{source} holds no key")
        self._fernet = MultiFernet(fernets)

    def seal(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def open(self, sealed: str) -> str:
        """The token; `InvalidToken` when no configured key made `sealed`."""
        return self._fernet.decrypt(sealed.encode()).decode()

    def reseal(self, sealed: str) -> str:
        """`sealed` encrypted again with the newest key (key rotation)."""
        return self._fernet.rotate(sealed.encode()).decode()


def key_file(settings: Settings) -> Path | None:
    """Where the keys are read from when GATEWAY_SECRET_KEY is unset: the configured file, else
    beside a SQLite database file; None on PostgreSQL (or in-memory SQLite) without a file set."""
    if settings.secret_key_file is not None:
        return settings.secret_key_file
    if not settings.database_url.startswith("sqlite:///"):
        return None
    database = settings.database_url.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(database + ".secret-key") if database and database != ":memory:" else None


def token_cipher(settings: Settings) -> TokenCipher:
    """The cipher for this deployment's tokens, from GATEWAY_SECRET_KEY or the key file (on SQLite made,
    with a new key, when missing); a SettingsError says what to set otherwise."""
    if settings.secret_key:
        return TokenCipher([k.strip() for k in settings.secret_key.split(",") if k.strip()], "GATEWAY_SECRET_KEY")
    path = key_file(settings)
    if path is None:
        raise SettingsError(
            "GATEWAY_SECRET_KEY (or GATEWAY_SECRET_KEY_FILE) must be set: auth tokens are stored "
            "encrypted, and every process on this database must use the same key"
        )
    if not path.exists():
        if not settings.embedded:
            raise SettingsError(
                f"GATEWAY_SECRET_KEY_FILE={str(path)!r}: no such file; with PostgreSQL it must "
                "exist (every process must read the same keys): write the keys there, one a line"
            )
        _write_new_key(path)
    try:
        lines = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"GATEWAY_SECRET_KEY_FILE: cannot read {path}: {exc}") from None
    return TokenCipher(lines, f"key file {path}")


def _write_new_key(path: Path) -> None:
    """A new key, owner-only, put in place with link(2): of two processes starting at once, one
    key wins and neither reads a half-written file."""
    draft = path.with_name(f"{path.name}.{os.getpid()}.new")
    try:
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise SettingsError(f"GATEWAY_SECRET_KEY_FILE: cannot make {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(Fernet.generate_key().decode() + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
