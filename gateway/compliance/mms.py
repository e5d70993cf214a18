"""Whether a send's media go as MMS, or through the MMS Converter as an SMS with links.

Twilio's MMS Converter (a Messaging Service setting, on by default) sends media that cannot go as
MMS as an SMS carrying a link to each item.  Media cannot go as MMS when the sender cannot send
MMS (its `Mms` capability) or when the recipient's country takes none (the policy's `mms`);
WhatsApp carries media whatever either says.  Without the converter such a send is refused:
21621 for the sender, 21612 for the destination.  Pure: the caller passes the policy and settings.
"""

from __future__ import annotations

from gateway.compliance.reasons import Reason
from gateway.compliance.verdicts import MEDIA, PASS, REFUSE, Verdict
from gateway.errors import MmsNotEnabled, MmsUnreachable
from gateway.policy.model import Policy


def media_verdict(
    *,
    count: int,
    channel: str,
    country: str,
    sender: str,
    sender_mms: bool,
    converter: bool,
    converter_source: str,
    policy: Policy | None,
) -> Verdict:
    """MMS (PASS), converted (PASS with `converted`), or refused, for `count` media items."""
    if channel == "whatsapp":
        return Verdict(MEDIA, PASS, Reason("media.mms", count=count), "channel: WhatsApp", {"converted": False})
    if not sender_mms:
        why, source = Reason("media.sender_no_mms", sender=sender), f"sender {sender}: Mms"
        error: MmsNotEnabled | MmsUnreachable = MmsNotEnabled(Reason("media.refused", why=why))
    elif policy is not None and not policy.mms_allowed(country):
        why, source = Reason("media.country_no_mms", country=country), policy.source_of(country, "mms")
        error = MmsUnreachable(Reason("media.refused", why=why))
    else:
        return Verdict(MEDIA, PASS, Reason("media.mms", count=count), f"sender {sender}: Mms", {"converted": False})
    if not converter:
        return Verdict(MEDIA, REFUSE, error.message, converter_source, {"converted": False, "because": source}, error)
    return converted_verdict(why, converter_source, because=source)


def converted_verdict(why: Reason, converter_source: str, *, because: str) -> Verdict:
    """The MMS Converter's verdict: SMS with links, and why the media could not go as MMS."""
    return Verdict(
        MEDIA, PASS, Reason("media.converted", why=why), converter_source, {"converted": True, "because": because}
    )
