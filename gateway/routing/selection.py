"""Choose the sender of a Messaging Service's pool for one recipient, as Twilio does.

Theory (twilio-and-rules.md section 6.1; https://www.twilio.com/docs/messaging/services,
"Sender selection"): the pool is sorted into tiers and the first non-empty tier wins.

1. Channel.  A ``whatsapp:`` recipient only ever gets a WhatsApp sender, an SMS recipient
   never does; WhatsApp then prefers a sender of the recipient's country, else any.
2. Sticky Sender.  The sender recorded for this recipient comes first, before every tier
   below, while it is still a good route ("Twilio prioritizes any existing Sticky Sender
   mappings first").  It is dropped, and selection runs afresh, when it left the pool, when
   it is an alpha and alpha is not allowed, when it is a short code of another country
   (short codes are domestic), or when it is a number of another country and the pool now
   has a number or a short code of the recipient's country: Twilio "automatically ...
   remaps any existing Sticky Sender mappings so that the From number matches the same
   country as your recipient's phone number", the short code taking preference over the
   number.  A mapping to a sender of the recipient's own country (number, short code) or
   to an alpha is kept when senders are added, a new local short code included: Twilio's
   support article "How does adding a new Sender Type to my Messaging Service affect Sticky
   Sender mappings" (https://support.twilio.com/hc/en-us/articles/15361592743835) lists
   exactly these as "will continue to be used".  So "a short code is always prioritized"
   holds for every recipient without a mapping, or whose mapping is to a foreign number.
3. Alpha sender, where the country allows alpha and no local short code is in the pool.
4. Short code of the recipient's country.
5. Area Code Geomatch (opt-in, US/CA): same area code, else an overlay of it.
6. Country Code Geomatch: a number of the recipient's country.  Canada takes toll-free
   before long codes (Canadian carriers discourage A2P on long codes); elsewhere long
   codes and mobiles come before toll-free.
7. A US number, then any other phone number ("If there is no number from the recipient's
   country, Twilio tries a US number before selecting another phone number"; any number
   sends one-way SMS abroad, US toll-free included).  Short codes never leave their
   country.  Nothing else: ``Unroutable``, which the caller answers with 21703.

Within a tier the "Scaler" spreads traffic: the candidate with the least in-flight
``load`` wins, ties broken by sid so the choice is deterministic.  Senders in ``avoid`` (their
provider is unhealthy, see ``gateway/providers/health.py``) come last within their tier, so
traffic fails over to another provider's sender of the same tier and never to a worse tier;
a sticky mapping to such a sender is passed over without being rewritten (the recipient goes
back to it once its provider recovers).  Pinned mappings never reach this function.

Short Code Reroute: when the provider answers a send from a short code that the recipient's
carrier takes no short codes, the message is routed again over the pool's phone numbers only
(``choose_long_code``: the same tiers from Area Code Geomatch down), and sent once from there.

Everything here is pure: the caller gathers the pool, the sticky mapping and the load,
and records ``Route.new_sticky`` itself.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources

from gateway.channels import WHATSAPP
from gateway.compliance.reasons import Reason


class SenderKind(StrEnum):
    LONG_CODE = "long_code"
    TOLL_FREE = "toll_free"
    MOBILE = "mobile"
    SHORT_CODE = "short_code"
    ALPHA = "alpha"
    WHATSAPP = "whatsapp"


class Rule(StrEnum):
    """Why a sender was chosen."""

    STICKY = "sticky"
    ALPHA = "alpha"
    SHORT_CODE = "short_code"
    AREA_CODE = "area_code"
    OVERLAY = "overlay"
    COUNTRY = "country"
    US_FALLBACK = "us_fallback"
    ANY_NUMBER = "any_number"
    WHATSAPP = "whatsapp"


#: Each rule in words, for explanations of a route (``POST /v1/Messages/Explain``): the sentences
#: are `compliance.reasons`' ``route.<rule>``, where the console's catalog finds them.
WHY: dict[Rule, Reason] = {rule: Reason(f"route.{rule.value}") for rule in Rule}


@dataclass(frozen=True)
class Candidate:
    """One member of a Messaging Service's sender pool."""

    sid: str  # PN…/SC…/AI… sid
    address: str  # "+12015550123", "12345" (short code), "ACME" (alpha), "whatsapp:+12015550123"
    kind: SenderKind
    country: str | None  # ISO 3166 alpha-2 of the number / short code; None for alpha
    area_code: str | None = None  # NANP area code ("201") for US/CA numbers, else None


@dataclass(frozen=True)
class Recipient:
    """The ``To`` of a message, with the country the edge resolved for it."""

    address: str  # "+12015550123" or "whatsapp:+12015550123"
    country: str  # ISO alpha-2
    area_code: str | None = None  # NANP area code for US/CA recipients

    @property
    def channel(self) -> str:
        """``"whatsapp"`` for a ``whatsapp:`` address, else ``"sms"``."""
        return "whatsapp" if self.address.startswith(WHATSAPP) else "sms"


@dataclass(frozen=True)
class Route:
    """The chosen sender, the rule that chose it, and whether to record it as sticky."""

    sender: Candidate
    rule: Rule
    new_sticky: bool  # True when the caller should record/replace the mapping recipient → sender


class Unroutable(Exception):
    """No sender in the pool can reach the recipient (the caller answers Twilio 21703), and why."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason = reason


_NANP = frozenset({"US", "CA"})
_NUMBERS = frozenset({SenderKind.LONG_CODE, SenderKind.MOBILE, SenderKind.TOLL_FREE})
# Order of number kinds inside the country and US-fallback tiers.  Canada: toll-free
# first (Twilio's sender-selection doc; Canadian carriers forbid A2P on long codes).
_LOCAL_FIRST = ((SenderKind.LONG_CODE, SenderKind.MOBILE), (SenderKind.TOLL_FREE,))
_TOLL_FREE_FIRST = ((SenderKind.TOLL_FREE,), (SenderKind.LONG_CODE, SenderKind.MOBILE))
_NANP_NUMBER = re.compile(r"\+1([2-9]\d{2})[2-9]\d{6}")
_AREA_CODE = re.compile(r"[2-9]\d{2}")


# --- NANP data ---------------------------------------------------------------------


def area_code(e164: str) -> str | None:
    """The NANP area code of a ``+1`` E.164 number (``"+12125550100"`` → ``"212"``), else None."""
    match = _NANP_NUMBER.fullmatch(e164)
    return match.group(1) if match else None


def overlays(area_code: str) -> frozenset[str]:
    """The other area codes sharing an overlay complex with ``area_code`` (empty if none).

    An area code in several complexes (917, 872, 678 …) gets the union of them.
    """
    return _OVERLAYS.get(area_code, frozenset())


def _parse_overlays(text: str) -> dict[str, frozenset[str]]:
    """Read ``nanp_overlays.toml`` into area code → its overlay partners; bad data raises ValueError."""
    data = tomllib.loads(text)
    groups = data.get("groups")
    if not isinstance(groups, list):
        raise ValueError("nanp_overlays.toml: 'groups' must be a list of lists of area codes")
    partners: dict[str, set[str]] = {}
    for index, group in enumerate(groups):
        if not isinstance(group, list) or len(group) < 2:
            raise ValueError(f"nanp_overlays.toml: group {index} must list at least two area codes")
        for code in group:
            if not isinstance(code, str) or not _AREA_CODE.fullmatch(code):
                raise ValueError(f"nanp_overlays.toml: group {index}: {code!r} is not a 3-digit area code")
        if len(set(group)) != len(group):
            raise ValueError(f"nanp_overlays.toml: group {index} repeats an area code")
        for code in group:
            partners.setdefault(code, set()).update(c for c in group if c != code)
    return {code: frozenset(others) for code, others in partners.items()}


_OVERLAYS = _parse_overlays(resources.files("gateway.routing").joinpath("nanp_overlays.toml").read_text("utf-8"))


# --- selection ---------------------------------------------------------------------


def choose_sender(
    pool: Sequence[Candidate],
    recipient: Recipient,
    *,
    sticky: str | None = None,
    sticky_sender: bool = False,
    area_code_geomatch: bool = False,
    alpha_allowed: bool = True,
    load: Mapping[str, int] | None = None,
    avoid: Collection[str] = (),
) -> Route:
    """Pick the sender for ``recipient`` by Twilio's order (see the module docstring).

    ``sticky`` is the sid previously recorded for this recipient; it is only honoured when
    ``sticky_sender`` is on.  ``alpha_allowed`` is the recipient country's policy.
    ``load`` counts in-flight messages per sid for the Scaler (a missing sid counts 0).
    ``avoid`` holds the sids of senders whose provider is unhealthy.
    Raises ``Unroutable`` when no tier has a candidate.
    """
    whatsapp = recipient.channel == "whatsapp"
    usable = [c for c in pool if (c.kind is SenderKind.WHATSAPP) == whatsapp]
    passed_over = False
    if sticky_sender and sticky is not None:
        current = next((c for c in usable if c.sid == sticky), None)
        if current is not None and _still_routable(current, usable, recipient, alpha_allowed):
            if current.sid not in avoid:
                return Route(current, Rule.STICKY, new_sticky=False)
            passed_over = True
    choose = _choose_whatsapp if whatsapp else _choose_sms
    sender, rule = choose(usable, recipient, area_code_geomatch, alpha_allowed, _Load(load or {}, avoid))
    if passed_over and sender.sid == sticky:  # no healthy alternative in its tier: it stays the route
        return Route(sender, Rule.STICKY, new_sticky=False)
    return Route(sender, rule, new_sticky=sticky_sender and not passed_over)


def choose_long_code(
    pool: Sequence[Candidate],
    recipient: Recipient,
    *,
    area_code_geomatch: bool = False,
    load: Mapping[str, int] | None = None,
    avoid: Collection[str] = (),
) -> Route:
    """The phone number of ``pool`` for a recipient whose carrier refused the short code (Short Code
    Reroute): short codes and alpha senders are left out, every other rule holds; no sticky mapping
    is read or written (the recipient's mapping stays with the short code).  Raises ``Unroutable``
    when the pool has no phone number that can reach them."""
    numbers = [c for c in pool if c.kind in _NUMBERS]
    route = choose_sender(
        numbers, recipient, area_code_geomatch=area_code_geomatch, alpha_allowed=False, load=load, avoid=avoid
    )
    return Route(route.sender, route.rule, new_sticky=False)


def _still_routable(current: Candidate, usable: Sequence[Candidate], recipient: Recipient, alpha_allowed: bool) -> bool:
    """Whether a sticky sender is still a good route (Twilio re-runs selection when not)."""
    country = recipient.country
    if current.kind is SenderKind.WHATSAPP:
        # Adding a sender of the recipient's country remaps that country's pairs.
        return current.country == country or not any(c.country == country for c in usable)
    if current.kind is SenderKind.ALPHA:
        return alpha_allowed
    if current.country == country:  # a number or short code of the recipient's own country
        return True
    if current.kind is SenderKind.SHORT_CODE:  # another country's short code cannot reach them
        return False
    # A number of another country gives way to a number or short code of the recipient's.
    return not any(c.country == country and (c.kind in _NUMBERS or c.kind is SenderKind.SHORT_CODE) for c in usable)


def _choose_whatsapp(
    usable: Sequence[Candidate], recipient: Recipient, _geomatch: bool, _alpha: bool, load: _Load
) -> tuple[Candidate, Rule]:
    """A WhatsApp sender of the recipient's country, else any WhatsApp sender."""
    local = [c for c in usable if c.country == recipient.country]
    if pick := _least_loaded(local or usable, load):
        return pick, Rule.WHATSAPP
    raise Unroutable(Reason("route.no_whatsapp"))


def _choose_sms(
    usable: Sequence[Candidate], recipient: Recipient, geomatch: bool, alpha_allowed: bool, load: _Load
) -> tuple[Candidate, Rule]:
    """Alpha, local short code, area code, overlay, country number, US number, any number, in that order."""
    for rule, tier in _sms_tiers(usable, recipient, geomatch, alpha_allowed):
        if pick := _least_loaded(tier, load):
            return pick, rule
    raise Unroutable(Reason("route.unreachable", country=recipient.country))


def _sms_tiers(
    usable: Sequence[Candidate], recipient: Recipient, geomatch: bool, alpha_allowed: bool
) -> Iterable[tuple[Rule, list[Candidate]]]:
    """The SMS tiers, best first; each is a (possibly empty) list of candidates."""
    country = recipient.country
    short_codes = _local_short_codes(usable, country)
    if alpha_allowed and not short_codes:
        yield Rule.ALPHA, [c for c in usable if c.kind is SenderKind.ALPHA]
    yield Rule.SHORT_CODE, short_codes
    target = _area_code_of(recipient.address, recipient.area_code, country)
    if geomatch and target is not None:
        nanp = [c for c in usable if c.kind in _NUMBERS and c.country in _NANP]
        yield Rule.AREA_CODE, [c for c in nanp if _area_code_of(c.address, c.area_code, c.country) == target]
        near = overlays(target)
        yield Rule.OVERLAY, [c for c in nanp if _area_code_of(c.address, c.area_code, c.country) in near]
    order = _TOLL_FREE_FIRST if country == "CA" else _LOCAL_FIRST
    for kinds in order:
        yield Rule.COUNTRY, [c for c in usable if c.kind in kinds and c.country == country]
    for kinds in order:
        yield Rule.US_FALLBACK, [c for c in usable if c.kind in kinds and c.country == "US"]
    for kinds in order:
        yield Rule.ANY_NUMBER, [c for c in usable if c.kind in kinds and c.country not in (country, "US")]


def _local_short_codes(usable: Sequence[Candidate], country: str) -> list[Candidate]:
    return [c for c in usable if c.kind is SenderKind.SHORT_CODE and c.country == country]


def _area_code_of(address: str, given: str | None, country: str | None) -> str | None:
    """The NANP area code given, else read from a US/CA address; None elsewhere."""
    if country not in _NANP:
        return None
    return given or area_code(address.removeprefix(WHATSAPP))


@dataclass(frozen=True)
class _Load:
    """The Scaler's view: in-flight load, and the senders to use only when their tier has no other."""

    counts: Mapping[str, int]
    avoid: Collection[str]


def _least_loaded(tier: Sequence[Candidate], load: _Load) -> Candidate | None:
    """The Scaler: senders of healthy providers first, then least in-flight load, ties broken by sid;
    None for an empty tier."""
    return min(tier, key=lambda c: (c.sid in load.avoid, load.counts.get(c.sid, 0), c.sid), default=None)
