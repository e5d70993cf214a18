"""Senders: what a number, short code or alpha sender is, and its throughput."""

from __future__ import annotations

import phonenumbers

from gateway.pacing import default_mps
from gateway.providers import MODULES
from gateway.routing import SenderKind

_TYPES = {
    phonenumbers.PhoneNumberType.TOLL_FREE: SenderKind.TOLL_FREE,
    phonenumbers.PhoneNumberType.MOBILE: SenderKind.MOBILE,
}


def classify_number(address: str) -> tuple[SenderKind, str | None]:
    """Kind and country of an E.164 sender (`whatsapp:` prefix makes it a WhatsApp sender)."""
    parsed = phonenumbers.parse(address.removeprefix("whatsapp:"), None)
    country = phonenumbers.region_code_for_number(parsed)
    if address.startswith("whatsapp:"):
        return SenderKind.WHATSAPP, country
    return _TYPES.get(phonenumbers.number_type(parsed), SenderKind.LONG_CODE), country


def sends_mms(kind: str, mms: bool | None, provider: str) -> bool:
    """Whether a sender can send MMS: never through a provider whose API the gateway sends with
    carries no media (`ProviderModule.sends_media`); else as registered (`Mms`), else as its kind
    can (numbers yes; short codes only once registered for MMS, and alphanumeric senders never)."""
    module = MODULES.get(provider)
    if module is not None and not module.sends_media:
        return False
    return mms if mms is not None else kind not in (SenderKind.SHORT_CODE, SenderKind.ALPHA)


def mps_for(kind: SenderKind, country: str | None, requested: int | None) -> int:
    return requested if requested is not None else default_mps(kind.value, country)
