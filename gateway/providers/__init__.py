"""Provider adapters, by slug. The registry is this explicit dict: adding a provider means adding
a line here (see ADDING.md), never import-time registration."""

from __future__ import annotations

from gateway.providers import sim, twilio
from gateway.providers.base import Provider

PROVIDERS: dict[str, Provider] = {
    "twilio": twilio.PROVIDER,
    "sim": sim.PROVIDER,
}
