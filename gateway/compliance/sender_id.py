"""Alphanumeric sender IDs and the countries that want them registered (reference 8.5).

A country's policy says whether its carriers deliver alpha senders (`supported`), deliver only
those registered for the country (`registration_required`: UK, India, France...), or never do
(`not_supported`: US, Canada).  Which countries an alpha sender is registered for is a setting of
the sender (`RegisteredCountries` on the pool's AlphaSenders).  Twilio sends an unregistered alpha
anyway and the carrier may reject it (error 30018), so the default is to send and record a warning
on the message; a country's `unregistered_alpha = "refuse"` turns it into a refusal instead.
Pure: the caller passes the policy and the sender's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.compliance.reasons import Reason
from gateway.compliance.verdicts import PASS, REFUSE, SKIP, WARN, Verdict
from gateway.errors import AlphaNotSupported, SenderIdNotRegistered
from gateway.policy.model import AlphaSupport, Policy

#: Twilio's "Destination carrier requires sender ID pre-registration".
UNREGISTERED_CODE = 30018
#: Twilio's "'To' number not currently reachable via SMS": no carrier of the country takes alpha.
UNSUPPORTED_CODE = 21612
ALPHA = "alpha"
#: The gate's name in a send's reasons (`compliance.verdicts`).
SENDER_ID = "sender_id"


class SenderIdAction(StrEnum):
    ALLOWED = "allowed"
    WARN = "warn"  # sent, with the warning recorded on the message
    REFUSE = "refuse"


@dataclass(frozen=True)
class SenderIdVerdict:
    """The decision, the country's `alpha_sender` status, why, and the policy line that decided."""

    action: SenderIdAction
    support: AlphaSupport | None  # None: the sender is not alphanumeric
    reason: str
    rule: str | None
    code: int | None = None  # the Twilio code of a warning or refusal


def decide_sender_id(
    policy: Policy, country: str, kind: str, address: str, registered: frozenset[str]
) -> SenderIdVerdict:
    """May the sender `address` (of routing kind `kind`) reach numbers of `country`?"""
    if kind != ALPHA:
        return SenderIdVerdict(SenderIdAction.ALLOWED, None, Reason("sender_id.not_alpha", address=address), None)
    support = policy.alpha_support(country)
    rule = policy.source_of(country, "alpha_sender")
    if support is AlphaSupport.SUPPORTED:
        return SenderIdVerdict(SenderIdAction.ALLOWED, support, Reason("sender_id.supported", country=country), rule)
    if support is AlphaSupport.NOT_SUPPORTED:
        return SenderIdVerdict(
            SenderIdAction.REFUSE,
            support,
            Reason("sender_id.unsupported", country=country, address=address),
            rule,
            UNSUPPORTED_CODE,
        )
    if country in registered:
        return SenderIdVerdict(
            SenderIdAction.ALLOWED, support, Reason("sender_id.registered", address=address, country=country), rule
        )
    reason = Reason("sender_id.unregistered", country=country, address=address)
    if policy.unregistered_alpha_for(country) == "refuse":
        return SenderIdVerdict(
            SenderIdAction.REFUSE, support, reason, policy.source_of(country, "unregistered_alpha"), UNREGISTERED_CODE
        )
    return SenderIdVerdict(
        SenderIdAction.WARN, support, Reason("sender_id.sent_anyway", reason=reason), rule, UNREGISTERED_CODE
    )


def alpha_usable(policy: Policy, country: str, registered: frozenset[str]) -> bool:
    """Whether routing may pick an alpha sender with these registrations for `country`: not where
    the send would be refused (an unregistered one where the policy says `refuse`), so the pool's
    numbers carry the message instead."""
    return decide_sender_id(policy, country, ALPHA, "", registered).action is not SenderIdAction.REFUSE


def registered_countries(setting: str | None) -> frozenset[str]:
    """The sender's `registered_countries` column (comma-separated ISO codes) as a set."""
    return frozenset(setting.split(",")) if setting else frozenset()


def sender_id_verdict(policy: Policy, country: str, kind: str, address: str, registered: frozenset[str]) -> Verdict:
    """The sender-ID gate for a send: a warning is recorded in the message's reasons (`code` 30018)
    and the send goes; a refusal carries its error."""
    found = decide_sender_id(policy, country, kind, address, registered)
    facts = {"alpha_sender": found.support.value if found.support else None, "registered_countries": sorted(registered)}
    if found.action is SenderIdAction.REFUSE:
        error_type = AlphaNotSupported if found.code == UNSUPPORTED_CODE else SenderIdNotRegistered
        error = error_type(Reason("sender_id.cannot_send", address=address, country=country, reason=found.reason))
        return Verdict(SENDER_ID, REFUSE, found.reason, found.rule or "", facts, error)
    if found.action is SenderIdAction.WARN:
        return Verdict(SENDER_ID, WARN, found.reason, found.rule or "", facts | {"warning_code": found.code})
    # Not alphanumeric: the sender's kind decided, whether the request named it or routing chose it.
    return Verdict(
        SENDER_ID, PASS if found.support else SKIP, found.reason, found.rule or f"sender {address} ({kind})", facts
    )
