"""The built-in simulator (`providers/simulator.py`) speaks Twilio's wire format, so its adapter
is the Twilio adapter under its own name: same signatures, same fields, same status words.

Its settings are the simulator's own (GATEWAY_SIMULATOR*, core settings: the simulator mounted
at /sim reads them too), so the module says what it needs in terms of them."""

from __future__ import annotations

from typing import Protocol

from gateway.providers.base import Credentials
from gateway.providers.module import ProviderModule
from gateway.providers.twilio import TwilioProvider

PROVIDER = TwilioProvider(name="sim")


class SimulatorSettings(Protocol):
    """The core settings the module reads (`gateway.settings.Settings` has them)."""

    @property
    def public_url(self) -> str | None: ...
    @property
    def local_url(self) -> str: ...
    @property
    def simulator(self) -> bool: ...
    @property
    def simulator_url(self) -> str | None: ...
    @property
    def simulator_token(self) -> str | None: ...


def _credentials(settings: SimulatorSettings) -> Credentials:
    """The mounted simulator's, or the one GATEWAY_SIMULATOR_URL names."""
    base = settings.public_url or settings.local_url
    return Credentials("AC" + "0" * 32, settings.simulator_token or "", settings.simulator_url or f"{base}/sim")


MODULE = ProviderModule[SimulatorSettings](
    PROVIDER,
    _credentials,
    needs_to_send=lambda settings: {
        "GATEWAY_SIMULATOR=true (or GATEWAY_SIMULATOR_URL)": settings.simulator or settings.simulator_url
    },
    webhook_secret=(
        "GATEWAY_SIMULATOR_TOKEN (or GATEWAY_SIMULATOR=true)",
        lambda settings: settings.simulator_token or "",
    ),
)
