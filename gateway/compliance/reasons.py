"""The sentences a send's verdicts say, by id, so a message keeps why it went as data.

A message's reasons are read long after the send, by people of other languages: the compliance
console shows them in the reader's.  So a verdict's reason is a `Reason`: the English sentence
(what the API's Explain and the errors say, unchanged) that also knows its id and parameters, and
the message row keeps only `[id, {parameters}]` (`Reason.stored`), which the reader renders in
its language (`render`).  Rows written before reasons were data hold the English sentence itself;
`render` shows it as it is.

The sentences are marked with `N_` so that the console's catalog extraction finds them
(`gateway/console/babel.cfg`; README "Compliance console"): add one here and translate it there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def N_(text: str) -> str:  # noqa: N802 (gettext's name for "translated later")
    """Marks a sentence for the console's catalog; translated when a page shows it."""
    return text


SENTENCES: dict[str, str] = {
    # valid_number
    "number.valid": N_("%(number)s is a valid %(country)s number"),
    "number.valid_area": N_("%(number)s is a valid %(country)s number, area code %(area_code)s"),
    # geo_permissions
    "geo.none_listed": N_("every country is permitted: none is listed"),
    "geo.permitted": N_("%(country)s is a permitted country"),
    "geo.reply": N_("%(country)s is not a permitted country, but a reply to the person's own message always goes"),
    "geo.refused": N_(
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number (%(country)s)."
    ),
    # route: one sentence per routing rule (`routing.WHY`), then the others
    "route.sticky": N_("the sender this recipient already gets messages from (Sticky Sender)"),
    "route.alpha": N_(
        "an alphanumeric sender: the recipient's country allows them and the pool has no short code of that country"
    ),
    "route.short_code": N_("a short code of the recipient's country, which comes before every number"),
    "route.area_code": N_("a number with the recipient's area code (Area Code Geomatch)"),
    "route.overlay": N_("a number of an area code overlaying the recipient's (Area Code Geomatch)"),
    "route.country": N_("a number of the recipient's country (Country Code Geomatch)"),
    "route.us_fallback": N_("a US number: the pool has no number of the recipient's country"),
    "route.any_number": N_(
        "a number of another country: the pool has none of the recipient's country and no US number"
    ),
    "route.whatsapp": N_("a WhatsApp sender, of the recipient's country when the pool has one"),
    "route.from": N_("the request names From %(sender)s"),
    "route.pinned": N_("staff pinned this recipient to this sender; routing never moves it"),
    "route.no_alpha": N_("%(rule)s; alphanumeric senders may not reach %(country)s numbers (%(source)s)"),
    "route.not_owned": N_("The 'From' number %(sender)s is not a sender of %(where)s."),
    "route.no_whatsapp": N_("no WhatsApp sender in the pool"),
    "route.unreachable": N_(
        "no sender in the pool can reach %(country)s numbers: no usable alpha sender, no "
        "%(country)s short code, and no phone number of any country"
    ),
    # opt_out, and the scopes it names
    "scope.account": N_("the whole account"),
    "scope.service": N_("the Messaging Service %(sid)s"),
    "scope.number": N_("the number %(sid)s"),
    "where.account": N_("this account"),
    "opt_out.clear": N_("%(number)s has not opted out of %(scope)s (%(channel)s) nor of the whole account"),
    "opt_out.opted_out": N_("%(number)s opted out of %(scope)s (%(channel)s)"),
    "opt_out.opted_out_by": N_("%(number)s opted out of %(scope)s (%(channel)s) on %(at)s, by %(keyword)s"),
    "opt_out.opted_out_through": N_(
        "%(number)s opted out of %(scope)s (%(channel)s) on %(at)s, through the %(source)s"
    ),
    "opt_out.unsubscribed": N_("Attempt to send to unsubscribed recipient."),
    "opt_out.confirmation": N_("the confirmation of the person's own opt-out always goes"),
    "opt_out.no_scope": N_("no sender and no Messaging Service, so no opt-out scope to check"),
    # quiet_hours
    "quiet.reply": N_("a confirmation or HELP reply to the person's own message is never held"),
    "quiet.not_subject": N_("%(traffic)s messages are not subject to quiet hours"),
    "quiet.no_window": N_("no send window applies to %(country)s numbers"),
    "quiet.inside": N_("inside the send window"),
    "quiet.never_opens": N_("the send window never opens in every time zone of %(number)s within %(days)s days"),
    "quiet.policy_refuses": N_("outside the send window; the policy refuses such sends"),
    "quiet.held": N_("outside the send window; held until it opens"),
    "quiet.held_in": N_("outside the send window; held until it opens (%(window)s)"),
    "quiet.refused": N_(
        "Marketing messages to %(number)s may not be sent now: %(local_time)s is outside the send "
        "window %(window)s (%(rule)s)."
    ),
    "quiet.refused_until": N_(
        "Marketing messages to %(number)s may not be sent now: %(local_time)s is outside the "
        "send window %(window)s (%(rule)s); it opens at %(at)s."
    ),
    # sender_id
    "sender_id.not_alpha": N_("%(address)s is not an alphanumeric sender ID"),
    "sender_id.supported": N_("%(country)s carriers deliver alphanumeric sender IDs"),
    "sender_id.unsupported": N_("%(country)s carriers do not deliver alphanumeric sender IDs such as %(address)s"),
    "sender_id.registered": N_(
        "%(address)s is registered for %(country)s, where alphanumeric sender IDs need registration"
    ),
    "sender_id.unregistered": N_(
        "%(country)s carriers require alphanumeric sender IDs to be registered, and "
        "%(address)s is not registered for %(country)s (its RegisteredCountries)"
    ),
    "sender_id.sent_anyway": N_("%(reason)s; sent, as Twilio does, and the carrier may reject it"),
    "sender_id.cannot_send": N_("The 'From' %(address)s cannot send to %(country)s: %(reason)s."),
    # media (compliance.mms)
    "media.mms": N_("%(count)s media items go as MMS"),
    "media.converted": N_("%(why)s: the MMS Converter sends it as SMS with a link to each media item"),
    "media.sender_no_mms": N_("the sender %(sender)s cannot send MMS"),
    "media.country_no_mms": N_("%(country)s numbers take no MMS"),
    "media.provider_refused": N_("the provider refused it as MMS (error %(code)s)"),
    "media.refused": N_("The message has media, but %(why)s, and the MMS Converter is off."),
    # schedule, queue, outcome
    "schedule.at": N_("the app scheduled it for %(at)s"),
    "queue.none": N_("no sender, so no queue"),
    "queue.held": N_("held: it joins its sender's queue when it comes due"),
    "queue.room": N_("%(queued)s segments queued; %(mps)s MPS sends %(capacity)s within %(validity)s s"),
    "queue.overflow": N_(
        "The sender %(sender)s has %(queued)s segments queued, more than it can send at %(mps)s "
        "MPS within %(validity)s seconds."
    ),
    "outcome.now": N_("queued for its sender now"),
}


class Reason(str):
    """A reason sentence in English that knows its id and parameters (a parameter may itself be a
    `Reason`, such as the scope an opt-out names).  It is a `str`, so everything that says it in
    English (errors, Explain, logs) is unchanged; `stored` is what a message row keeps."""

    id: str
    args: Mapping[str, Any]

    def __new__(cls, id: str, **args: Any) -> Reason:  # noqa: A002 (the sentence's id)
        sentence = SENTENCES[id]
        made = super().__new__(cls, sentence % args if args else sentence)
        made.id, made.args = id, args
        return made

    def stored(self) -> list[Any]:
        """`[id]`, or `[id, {parameters}]` with parameters that are reasons stored the same way."""
        if not self.args:
            return [self.id]
        return [
            self.id,
            {name: value.stored() if isinstance(value, Reason) else value for name, value in self.args.items()},
        ]


def stored(reason: str) -> Any:
    """What a message row keeps of a reason: its id and parameters when it has them, else the text."""
    return reason.stored() if isinstance(reason, Reason) else reason


def render(kept: Any, gettext: Callable[[str], str] | None = None) -> str:
    """A kept reason as a sentence: in the language of `gettext`, else English.  Text (a reason
    written before reasons were data) is shown as it is; an id this version does not know, as
    the id."""
    if isinstance(kept, str):
        return kept
    template = SENTENCES.get(kept[0])
    if template is None:
        return str(kept[0])
    if gettext is not None:
        template = gettext(template)
    if len(kept) < 2:
        return template
    return template % {
        name: render(value, gettext) if isinstance(value, list | tuple) else value for name, value in kept[1].items()
    }


def readable(reasons: Mapping[str, Any], gettext: Callable[[str], str] | None = None) -> dict[str, Any]:
    """A message's kept reasons with every reason a sentence (the route's, each gate's, the outcome's)."""
    outcome = reasons["outcome"]
    return {
        **reasons,
        "route": _said(reasons["route"], gettext),
        "gates": [_said(gate, gettext) for gate in reasons["gates"]],
        "outcome": {**outcome, "message": render(outcome["message"], gettext)},
    }


def _said(gate: Mapping[str, Any], gettext: Callable[[str], str] | None) -> dict[str, Any]:
    return {**gate, "reason": render(gate["reason"], gettext)}
