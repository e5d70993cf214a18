"""One message through the policy, as staff see it (CLI `policy test`, `/v1/Policy/Test`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers

from gateway.locales import Catalogs
from gateway.policy.matcher import Matcher
from gateway.policy.model import Mode


def country_of(number: str | None) -> str | None:
    """ISO country of an E.164 number (`whatsapp:` prefix allowed), or None."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number.removeprefix("whatsapp:"), None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.region_code_for_number(parsed)


def evaluate(
    matcher: Matcher, catalogs: Catalogs, text: str, sender: str | None, mode: Mode | None, variables: Mapping[str, str]
) -> dict[str, Any]:
    country = country_of(sender)
    table = matcher.table(country)
    finding = table.examine(text, mode)
    match = finding.match
    reply = None
    if match is not None and match.reply is not None:
        reply = catalogs.render(match.reply, match.language, dict(variables) | table.reply_words(match.language))
    return {
        "kind": match.kind.value if match else None,
        "keyword": match.keyword if match else None,
        "language": match.language if match else None,
        "match": match.found.value if match else None,  # exact | phrase | embedded: how sure
        "exception": finding.exception,  # the exception that neutralised an opt-out word, if one did
        "country": country,
        "reply": reply,
        "policy_revision": matcher.revision,
    }
