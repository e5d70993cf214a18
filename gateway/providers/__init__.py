"""Provider modules, by slug. The registry is the explicit dict `MODULES`: adding a provider means
one module and a line here (see ADDING.md), never import-time registration. Everything that
lists, configures or checks providers reads it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.providers import plivo, sim, smpp, telnyx, twilio, vonage
from gateway.providers.base import Provider
from gateway.providers.module import ProviderModule

MODULES: dict[str, ProviderModule[Any]] = {
    "twilio": twilio.MODULE,
    "sim": sim.MODULE,
    "telnyx": telnyx.MODULE,
    "vonage": vonage.MODULE,
    "plivo": plivo.MODULE,
    "smpp": smpp.MODULE,
}


@dataclass(frozen=True)
class ProviderSettings(
    twilio.TwilioSettings, telnyx.TelnyxSettings, vonage.VonageSettings, plivo.PlivoSettings, smpp.SmppSettings
):
    """Every registered module's settings class, inherited by `gateway.settings.Settings`: its provider
    fields are typed and stay constructor keywords (`Settings(twilio_auth_token=...)`). A test holds
    this list equal to the modules' (a module missing here still works: `load_settings` adds it)."""


class _Adapters(Mapping[str, Provider]):
    """The modules' adapters, read through `MODULES` (so a module registered later is seen too)."""

    def __getitem__(self, name: str) -> Provider:
        return MODULES[name].adapter

    def __iter__(self) -> Iterator[str]:
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)


PROVIDERS: Mapping[str, Provider] = _Adapters()


def configured(settings: ProviderSettings) -> dict[str, Provider]:
    """The adapters with the deployment's choices applied (Vonage's signature method): `settings`
    is `gateway.settings.Settings`, which inherits every module's settings."""
    return {name: module.configured(settings) for name, module in MODULES.items()}
