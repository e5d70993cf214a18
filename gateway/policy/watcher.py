"""Hot reload: the running gateway follows edits to the policy and locale files.

The watcher polls a cheap fingerprint (path, size, mtime of every file) and
reloads only when it changes.  A revision with errors never replaces the one
serving: the errors are logged and shown by `/readyz` until a good edit lands.
Polling keeps it dependable on every filesystem (bind mounts, NFS) at a cost
of a few stat calls per interval.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from gateway.errors import PolicyError
from gateway.locales import Catalogs
from gateway.observability import metrics
from gateway.policy.loader import LoadResult, load_policies
from gateway.policy.matcher import Matcher

log = logging.getLogger("gateway.policy")


@dataclass
class PolicyState:
    """What is serving now, and what went wrong with the latest edit, if anything."""

    policies_dir: Path
    locales_dir: Path
    matcher: Matcher | None = None
    catalogs: Catalogs | None = None
    errors: list[PolicyError] = field(default_factory=list)
    warnings: list[PolicyError] = field(default_factory=list)
    notes: list[PolicyError] = field(default_factory=list)  # what the files explain themselves (`long_reply`)
    loaded_at: float = 0.0
    _fingerprint: tuple[tuple[str, int, int], ...] = ()

    def reload(self) -> LoadResult:
        """Load the files now; swap them in only when they are valid."""
        self._fingerprint = fingerprint(self.policies_dir, self.locales_dir)
        catalogs = Catalogs.load(self.locales_dir)
        result = load_policies(self.policies_dir, catalogs)
        self.errors, self.warnings, self.notes = result.errors, result.warnings, result.notes
        previous = self.matcher.revision if self.matcher else None
        if result.policy is not None:
            self.matcher, self.catalogs, self.loaded_at = Matcher(result.policy), catalogs, time.time()
            if previous != result.policy.revision:
                log.info(
                    "policy revision %s loaded (%d warnings, %d notes%s)",
                    result.policy.revision,
                    len(result.warnings),
                    len(result.notes),
                    ": `gateway policy check` lists them" if result.notes else "",
                )
                for note in result.notes:  # explained in the files themselves: no need to shout at every start
                    log.debug("policy note: %s", note)
            for warning in result.warnings:
                log.warning("policy warning: %s", warning)
        else:
            serving = self.matcher.revision if self.matcher else "none"
            for error in result.errors:
                log.error("policy error: %s", error)
            log.error("policy edit rejected with %d errors; revision %s keeps serving", len(result.errors), serving)
        metrics.policy_loaded(self.matcher.revision if self.matcher else None, previous, len(result.errors))
        return result

    def changed(self) -> bool:
        return fingerprint(self.policies_dir, self.locales_dir) != self._fingerprint


def fingerprint(*directories: Path) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for directory in directories:
        for root, _, names in os.walk(directory):
            for name in names:
                if name.endswith((".toml", ".po")):
                    path = os.path.join(root, name)
                    stat = os.stat(path)
                    entries.append((path, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))
