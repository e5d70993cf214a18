"""An explanation of a send as JSON and as text: what `POST /v1/Messages/Explain`,
`GET /v1/Messages/{Sid}/Explain` and `gateway explain` answer.

The reasons themselves come from `dispatch.submit.Plan.reasons`, the plan the send acts on;
this module only frames them (the request they answer, the message they belong to), says each
kept reason in English (`compliance.reasons.readable`: a message keeps them as ids and
parameters, or as English text when it was sent before they were) and writes them out for
people, so the API and the command say the same thing.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.compliance.reasons import readable
from gateway.dispatch.submit import SendRequest
from gateway.store.tables import Message


def for_request(send: SendRequest, reasons: dict[str, Any]) -> dict[str, Any]:
    """A would-be send's explanation: the request it answers, then the reasons."""
    return {
        "account_sid": send.account_sid,
        "to": send.to,
        "from": send.sender,
        "messaging_service_sid": send.service_sid,
        **readable(reasons),
    }


def for_message(message: Message) -> dict[str, Any]:
    """A stored message's explanation: the message, then the reasons its send recorded."""
    assert message.reasons is not None
    return {
        "sid": message.sid,
        "account_sid": message.account_sid,
        "to": message.to,
        "from": message.sender,
        "messaging_service_sid": message.service_sid,
        "status": message.status,
        **readable(message.reasons),
    }


#: A gate's fields every gate has, shown on its first two lines; the rest are what it found.
_SHOWN = frozenset({"gate", "verdict", "reason", "source", "code"})


def render(explanation: dict[str, Any]) -> str:
    """The explanation for people: outcome first, then the route, each gate and the encoding."""
    lines = []
    via = explanation["messaging_service_sid"] or explanation["from"]
    title = f"message {explanation['sid']} ({explanation['status']})" if "sid" in explanation else "send"
    lines.append(
        f"{title} to {explanation['to']} via {via}, decided {explanation['decided_at']} "
        f"(policy revision {explanation['policy_revision'] or 'none'})"
    )
    lines.append(_outcome(explanation["outcome"]))
    route = explanation["route"]
    if route["verdict"] == "refuse":
        lines.append(f"route: none, refused with {route['code']}: {route['reason']}")
    else:
        lines.append(
            f"route: {route['sender']} ({route['sender_sid']}, {route['kind']}, {route['provider']}) "
            f"by rule {route['rule']}: {route['reason']}"
        )
    lines.append(f"  source: {route['source']}")
    lines.append("gates:")
    lines += _gates(explanation["gates"])
    encoding = explanation["encoding"]
    segments = "segment" if encoding["segments"] == 1 else "segments"
    lines.append(
        f"encoding: {encoding['encoding']}, {encoding['segments']} {segments} "
        f"(smart encoding {'on' if encoding['smart_encoded'] else 'off'}: {encoding['source']})"
    )
    for release in explanation.get("releases", ()):  # a held message, each time it came due
        lines.append(f"released {release['decided_at']} (policy revision {release['policy_revision'] or 'none'})")
        lines.append("  " + _outcome(release["outcome"]))
        lines += ["  " + line for line in _gates(release["gates"])]
    return "\n".join(lines) + "\n"


def _outcome(outcome: dict[str, Any]) -> str:
    if outcome["action"] == "refuse":
        return f"outcome: refused with {outcome['code']} by {outcome['gate']}: {outcome['message']}"
    if outcome["action"] == "hold":
        return f"outcome: held until {outcome['at']} by {outcome['gate']}: {outcome['message']}"
    return f"outcome: goes out now ({outcome['at']})"


def _gates(gates: list[dict[str, Any]]) -> list[str]:
    """Each gate's verdict, reason and source, then what it found (scope and event, local time and window…)."""
    lines = []
    width = max((len(gate["gate"]) for gate in gates), default=0)
    for gate in gates:
        code = f" {gate['code']}" if gate["code"] is not None else ""
        lines.append(f"  {gate['gate']:<{width}}  {gate['verdict']}{code}: {gate['reason']}")
        lines.append(f"  {'':<{width}}  source: {gate['source']}")
        for name, value in gate.items():
            if name not in _SHOWN and value is not None:
                shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
                lines.append(f"  {'':<{width}}  {name}: {shown}")
    return lines
