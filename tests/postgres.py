"""A throwaway PostgreSQL server for the tests, from the Debian binaries (initdb + pg_ctl).

`.ci/run` installs Debian's `postgresql` package, so CI always runs these tests.  Without the
binaries the PostgreSQL variants skip with one line saying how to enable them.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.flows.server import free_port

HOW_TO_ENABLE = "PostgreSQL server binaries not found: apt-get install postgresql (as .ci/run does) to run these tests"


def binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _as_server_user(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root; CI runs as root, so use the `postgres` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a base URL (`postgresql+psycopg://gateway@127.0.0.1:PORT`) of a fresh server; stop it after."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError(HOW_TO_ENABLE)
    directory = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
    os.chmod(directory, 0o777)
    data, port = directory / "data", free_port()
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "gateway", "-E", "UTF8", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-o", options, "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://gateway@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(directory, ignore_errors=True)


def new_database(base_url: str) -> str:
    """A new empty database on the server; its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(base_url.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"
