"""Sender selection for a Messaging Service's pool: pure, see ``selection``."""

from gateway.routing.selection import (
    WHY,
    Candidate,
    Recipient,
    Route,
    Rule,
    SenderKind,
    Unroutable,
    area_code,
    choose_long_code,
    choose_sender,
    overlays,
)

__all__ = [
    "WHY",
    "Candidate",
    "Unroutable",
    "Recipient",
    "Route",
    "Rule",
    "SenderKind",
    "area_code",
    "choose_long_code",
    "choose_sender",
    "overlays",
]
