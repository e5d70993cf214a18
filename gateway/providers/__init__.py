"""Provider adapters, by slug. The registry is this explicit dict: adding a provider means adding
a line here (see ADDING.md), never import-time registration."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from gateway.providers import plivo, sim, telnyx, twilio, vonage
from gateway.providers.base import Provider

if TYPE_CHECKING:
    from gateway.settings import Settings

PROVIDERS: dict[str, Provider] = {
    "twilio": twilio.PROVIDER,
    "sim": sim.PROVIDER,
    "telnyx": telnyx.PROVIDER,
    "vonage": vonage.PROVIDER,
    "plivo": plivo.PROVIDER,
}


def configured(settings: Settings) -> dict[str, Provider]:
    """The registry with the deployment's choices applied (Vonage's signature algorithm)."""
    return PROVIDERS | {"vonage": replace(vonage.PROVIDER, method=settings.vonage_signature_method)}
