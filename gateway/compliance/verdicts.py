"""What each check of a send decided, and why, as values.

Why this module exists: compliance staff and support must be able to answer "why did (or
didn't) this person get this message?", before a send (`POST /v1/Messages/Explain`) and
after it (the reasons stored on the message).  Both answers come from the same place: the
gate and routing functions return a `Verdict` instead of only raising, the send path
raises the first refusing verdict's error, and Explain runs the same functions without
writing.  So an explanation cannot drift from what the send does.

A verdict names its gate, what it decided, a sentence saying why (a `compliance.reasons.Reason`,
kept on the message as its id and parameters), and the source that
decided it: a policy file and line (``countries/US.toml:4``), a setting of the Messaging
Service (``service MG…: GeoPermissions``), a consent event, or the request itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.compliance.reasons import Reason, stored
from gateway.dates import iso8601
from gateway.errors import GatewayError

# Gates, in the order the send path evaluates them (the first refusal is the one answered).
VALID_NUMBER = "valid_number"
ROUTE = "route"
GEO_PERMISSIONS = "geo_permissions"
OPT_OUT = "opt_out"
MEDIA = "media"  # MMS, or the MMS Converter's SMS with links (compliance.mms)
SCHEDULE = "schedule"  # the app's SendAt holds the send
QUEUE = "queue"

# What a gate decided.
PASS = "pass"
REFUSE = "refuse"  # the send is refused with the verdict's error
HOLD = "hold"  # the send waits until `facts["until"]`
WARN = "warn"  # the send goes, with a warning recorded
SKIP = "skip"  # the gate does not apply to this send, or could not run (the reason says which)


@dataclass(frozen=True)
class Verdict:
    """One gate's decision about one send."""

    gate: str
    verdict: str
    reason: str
    source: str
    facts: Mapping[str, Any] = field(default_factory=dict)  # what the gate found (scope, event, sender…)
    error: GatewayError | None = field(default=None, compare=False)  # what a refusal raises

    def as_json(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "verdict": self.verdict,
            "reason": stored(self.reason),
            "source": self.source,
            "code": self.error.code if self.error is not None else None,
            **self.facts,
        }


def refusal(verdicts: Sequence[Verdict]) -> Verdict | None:
    """The first refusing verdict: the one whose error the send answers."""
    return next((v for v in verdicts if v.verdict == REFUSE), None)


def outcome(verdicts: Sequence[Verdict], now: datetime) -> dict[str, Any]:
    """When the send goes out: refused with a code, held until a time, or now; its `message` is
    kept as the verdicts' reasons are (`compliance.reasons.stored`)."""
    refused = refusal(verdicts)
    if refused is not None:
        assert refused.error is not None
        return {
            "action": "refuse",
            "at": None,
            "code": refused.error.code,
            "message": stored(refused.error.message),
            "gate": refused.gate,
        }
    held = [v for v in verdicts if v.verdict == HOLD]
    if held:
        last = max(held, key=lambda v: v.facts["until"])
        return {
            "action": "hold",
            "at": last.facts["until"],
            "code": None,
            "message": stored(last.reason),
            "gate": last.gate,
        }
    return {"action": "send", "at": iso8601(now), "code": None, "message": _NOW, "gate": None}


_NOW = Reason("outcome.now").stored()
