"""What a provider module declares besides its adapter: its settings, what it needs to send and to
verify webhooks, its credentials, and whether the gateway joins its long inbound messages.

The registry (`gateway.providers.MODULES`) holds one `ProviderModule` per slug, and everything
else follows from it: `Settings`' provider fields and `load_settings`, the missing-credentials
and registration rule, `/readyz`, the webhook edge, the dispatcher's credentials, the CLI and
the `Provider` enums of openapi.yaml (held equal by a test). See ADDING.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from gateway.providers.base import Credentials, Link, Provider

#: The settings a module reads: its own dataclass, which `gateway.settings.Settings` inherits, or for
#: the simulator a protocol of the core settings it needs.  Providers sit below settings, so they
#: name only what they read, never `Settings` itself.
S = TypeVar("S")


def setting(
    default: str | float,
    *,
    send: bool = False,
    verify: bool = False,
    secret: bool = False,
    url: bool = False,
    choices: tuple[str, ...] = (),
    check: Callable[[str], object] | None = None,
) -> Any:
    """A field of a provider's settings dataclass, read from GATEWAY_<FIELD NAME IN CAPITALS>.

    `send`: needed to send (empty → the provider cannot). `verify`: the webhook-signing secret (one
    per provider). `secret`: kept out of `repr`. `url`: a trailing "/" is dropped. `choices`: the
    value, lower-cased, must be one of them. `check`: reads a value set, raising `ValueError` with
    what is wrong, so a bad one stops the start naming its variable instead of failing when used.
    A float default makes it a positive number."""
    return dataclasses.field(
        default=default,
        repr=not secret,
        metadata={"send": send, "verify": verify, "url": url, "choices": choices, "check": check},
    )


def variable(field: dataclasses.Field[Any]) -> str:
    return f"GATEWAY_{field.name.upper()}"


@dataclass(frozen=True)
class ProviderModule(Generic[S]):
    """One provider: its adapter and all the gateway needs to know to configure and check it."""

    adapter: Provider
    #: The settings the dispatcher sends with (account, token, base URL).
    credentials: Callable[[S], Credentials]
    #: The frozen dataclass declaring its `<slug>_*` fields with `setting(...)`; `Settings` inherits it.
    settings: type[Any] | None = None
    #: The adapter with the deployment's choices applied (Vonage's signature method).
    configure: Callable[[S], Provider] | None = None
    #: Seconds the parts of a long inbound message are awaited, for a provider whose parts the gateway
    #: joins (`gateway.providers.reassembly`); None when the provider joins them itself.
    reassembly_wait: Callable[[S], float] | None = None
    #: For a provider whose needs are not fields of its own (the simulator's are core settings):
    #: variable (as shown to operators) → its value, to send; and (variable, value) of its webhook secret.
    needs_to_send: Callable[[S], Mapping[str, object]] | None = None
    webhook_secret: tuple[str, Callable[[S], str]] | None = None
    #: For a provider reached over a connection the workers hold open instead of HTTP (SMPP): the
    #: link, built from the settings once it can send.  Such a provider has no webhooks: what it
    #: reports arrives over the link, which its own credentials authenticate.
    link: Callable[[S], Link] | None = None
    #: Whether the API the gateway sends with carries media.  Where it does not (Vonage's SMS API,
    #: SMPP), the provider's senders send no MMS, whatever they were registered with: a send with
    #: media goes through the MMS Converter (or is refused with 21621) instead of losing its media.
    sends_media: bool = True

    @property
    def webhooks(self) -> bool:
        return self.link is None

    @property
    def name(self) -> str:
        return self.adapter.name

    def fields(self) -> tuple[dataclasses.Field[Any], ...]:
        return dataclasses.fields(self.settings) if self.settings is not None else ()

    def configured(self, settings: S) -> Provider:
        return self.configure(settings) if self.configure is not None else self.adapter

    def secret(self, settings: S) -> tuple[str, str]:
        """(the variable that holds the webhook secret, its value in `settings`)."""
        if self.webhook_secret is not None:
            label, value = self.webhook_secret
            return label, value(settings)
        [field] = [field for field in self.fields() if field.metadata["verify"]]
        return variable(field), getattr(settings, field.name)

    def missing_to_send(self, settings: S) -> list[str]:
        """The variables still unset that sending needs."""
        needs = (
            self.needs_to_send(settings)
            if self.needs_to_send is not None
            else {variable(field): getattr(settings, field.name) for field in self.fields() if field.metadata["send"]}
        )
        return [name for name, value in needs.items() if not value]
