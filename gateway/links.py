"""Link shortening with click tracking: what a body becomes, and what a click was.  Pure.

Twilio's Messaging Service (`ShortenUrls=true`) replaces each http(s) link of a body by its
branded domain and 10 alphanumeric characters, keeps the mapping 90 days and then sends a click
to the domain's fallback URL (https://www.twilio.com/docs/messaging/features/link-shortening).
The gateway does the same on its own domain: by default its public URL + `/l`, where
`GET /l/{code}` answers (`gateway/api/links.py`).  A shorter body may need fewer segments, so
the send counts them on the body as sent, after shortening.

Clicks.  Link previews (a messaging app fetching the page to draw a card) and security scanners
open links nobody tapped; Twilio reports them as clicks.  Here each click is classified
(`click_kind`): a HEAD request, a user agent of a known previewer or scanner, or a click within a
second of the delivery report (no person reads and taps that fast) is a `preview`; anything else
is `human`.  Both are recorded and forwarded; the event says which.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

CODE_LENGTH = 10  # Twilio's: `{domain}/` + 10 alphanumeric characters
_ALPHABET = string.ascii_letters + string.digits
#: An http(s) link in a body: up to the next space or a character no URL writes unescaped.
_URL = re.compile(r"\bhttps?://[^\s<>\"'`]+", re.IGNORECASE)
#: Punctuation that ends a sentence, not the link ("see https://acme.com/x." or "(https://…)").
_TRAILING = ".,;:!?)]}'\""
#: Previewers and scanners by user agent: messaging apps' card fetchers, social and search
#: crawlers, mail and link-security scanners, and Twilio's own sample (`Google-PageRenderer`).
PREVIEW_AGENTS = re.compile(
    r"Google-PageRenderer|Googlebot|AdsBot-Google|facebookexternalhit|Facebot|Twitterbot|"
    r"WhatsApp|TelegramBot|Slackbot|Slack-ImgProxy|Discordbot|LinkedInBot|SkypeUriPreview|"
    r"Applebot|bingbot|BingPreview|Embedly|redditbot|Pinterestbot|Snap URL Preview|"
    r"iMessageLinkPreview|Barracuda|Proofpoint|Mimecast|urlscan|Symantec|ZScaler|"
    r"bot\b|crawler|spider|preview",
    re.IGNORECASE,
)
#: A click this soon after the delivery report is a machine's.
PREVIEW_WITHIN = timedelta(seconds=1)
HUMAN, PREVIEW = "human", "preview"


@dataclass(frozen=True)
class LinkDomain:
    """Where short links point: `prefix` + code, e.g. `https://go.acme.com/Ab3dE5gH1j`."""

    domain: str  # host[:port][/path], no scheme
    scheme: str = "https"  # "" (DisableHttps): the link is written without one

    @property
    def prefix(self) -> str:
        return f"{self.scheme}://{self.domain}/" if self.scheme else f"{self.domain}/"


@dataclass(frozen=True)
class LinkDefaults:
    """The gateway's own domain and the links' lifetime, for services that set no domain."""

    domain: LinkDomain
    lifetime: timedelta = timedelta(days=90)


def default_domain(public_url: str) -> LinkDomain:
    """The gateway's public URL + `/l`, in the URL's own scheme."""
    parts = urlsplit(public_url.rstrip("/"))
    return LinkDomain(f"{parts.netloc}{parts.path}/l", parts.scheme)


def link_defaults(domain: str | None, public_url: str, lifetime_days: float) -> LinkDefaults:
    """GATEWAY_LINK_DOMAIN (https) if set, else the gateway's public URL + `/l`; GATEWAY_LINK_LIFETIME_DAYS."""
    chosen = LinkDomain(domain) if domain else default_domain(public_url)
    return LinkDefaults(chosen, timedelta(days=lifetime_days))


def domain_for(defaults: LinkDefaults, domain: str | None, disable_https: bool) -> LinkDomain:
    """A service's domain (its `LinkShorteningDomain`, written https) or the gateway's; with
    `DisableHttps` the links are written without a scheme, as Twilio's domain option does."""
    chosen = LinkDomain(domain) if domain else defaults.domain
    return LinkDomain(chosen.domain, "") if disable_https else chosen


@dataclass(frozen=True)
class ShortLink:
    code: str
    url: str  # the link as the app wrote it
    shortened: str  # what the body says instead


def new_code() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def shorten(body: str, domain: LinkDomain, code: Callable[[], str] = new_code) -> tuple[str, tuple[ShortLink, ...]]:
    """The body with each http(s) link replaced by a short one, and the links made (one per
    occurrence: a click names the place it came from)."""
    made: list[ShortLink] = []

    def replace(match: re.Match[str]) -> str:
        url = match.group()
        kept = url.rstrip(_TRAILING)
        made.append(link := ShortLink(made_code := code(), kept, domain.prefix + made_code))
        return link.shortened + url[len(kept) :]

    return _URL.sub(replace, body), tuple(made)


def is_code(text: str) -> bool:
    """Whether a path segment can be a short link's code (anything else is answered 404 unread)."""
    return len(text) == CODE_LENGTH and text.isascii() and text.isalnum()


def click_kind(user_agent: str | None, method: str, clicked_at: datetime, delivered_at: datetime | None) -> str:
    """`preview` for a previewer's or scanner's click (see the module docstring), else `human`."""
    if method == "HEAD" or not user_agent or PREVIEW_AGENTS.search(user_agent):
        return PREVIEW
    if delivered_at is not None and timedelta(0) <= clicked_at - delivered_at < PREVIEW_WITHIN:
        return PREVIEW
    return HUMAN
