"""Where the processes of one machine pool their metrics (prometheus_client's multiprocess mode).

prometheus_client picks its storage when it is first imported: with `PROMETHEUS_MULTIPROC_DIR`
set, each process writes its values to files there and `/metrics` adds up the files of all.  So
`gateway serve` and `gateway worker` call `metrics_directory` before anything imports it (this
module does not; spawned `--workers` processes inherit the variable).

- `GATEWAY_METRICS_DIR` unset: `serve` makes a directory for this run, shared by its `--workers N`
  processes, and removes it when it stops.  A `gateway worker` then has nowhere to report: it
  says so in its log.
- `GATEWAY_METRICS_DIR` set (the same path for `serve` and the `gateway worker` processes beside
  it): everyone writes there.  Nobody removes it; a `serve` that starts while no process that
  wrote there is alive clears it first, so counters start again from zero, as after any restart.
"""

from __future__ import annotations

import atexit
import glob
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from gateway.settings import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"
log = logging.getLogger("gateway")


def metrics_directory(settings: Settings, *, serving: bool) -> Path | None:
    """Choose the directory for this command's processes (children inherit the environment); a
    directory made for this run is removed when the command exits."""
    if "prometheus_client" in sys.modules:  # too late: this process would count alone, unseen
        raise RuntimeError("prometheus_client was imported before the metrics directory was chosen")
    if settings.metrics_dir is not None:
        directory = settings.metrics_dir
        directory.mkdir(parents=True, exist_ok=True)
        if serving and not _writers_alive(directory):
            for path in glob.glob(os.path.join(directory, "*.db")):
                os.remove(path)
        os.environ[ENV] = str(directory)
        return directory
    if not serving:
        log.info(
            "this worker's metrics are not exported: set GATEWAY_METRICS_DIR to the directory the "
            "`gateway serve` processes of this machine use"
        )
        return None
    directory = Path(tempfile.mkdtemp(prefix="gateway-metrics-"))
    os.environ[ENV] = str(directory)
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    # uvicorn stops gracefully on SIGTERM, then raises it again; by default that would end the
    # process without running the exit handlers above.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    return directory


def _writers_alive(directory: Path) -> bool:
    """Whether a process that wrote metrics files here (`<kind>_<pid>.db`) still runs."""
    for path in glob.glob(os.path.join(directory, "*.db")):
        pid = path.rsplit("_", 1)[-1].removesuffix(".db")
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                continue
            except PermissionError:
                return True
            return True
    return False
