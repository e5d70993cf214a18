"""Media on sends, decided without I/O: Twilio's limits, what a HEAD answer says about an item,
the Media subresource's sids, and the MMS Converter's text.

A message keeps its media in one column, one item a line: the URL, then (when the gateway learnt
it: the media check's HEAD, a provider's inbound `MediaContentType{N}`) a tab and its Content-Type.
A valid media URL holds no whitespace (`check_urls`), so neither separator can occur inside one.

The MMS Converter (Twilio's, on by default per Messaging Service): media that cannot go as MMS
(the sender cannot send it, the recipient's country takes none, the provider refused it as such)
goes as an SMS carrying one link per item after the body, one a line, as Telnyx's converter
writes them: the media URLs themselves.  A send with `ShortenUrls` has them shortened like any
other link of its body, since shortening runs on the converted body (`dispatch.submit.plan_send`),
or, when the provider refused the MMS, on the links the SMS gains (`dispatch.outcomes.refused`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple
from urllib.parse import urlsplit

from gateway.errors import InvalidMediaUrl, MediaTooLarge, MediaTypeNotAccepted, TooManyMedia

MAX_MEDIA = 10
#: MMS carries at most this many bytes of media, all items together (Twilio, error 11751).
MMS_LIMIT = 5 * 1024 * 1024
#: Twilio takes 5 MB for the images it resizes for carriers (jpeg, png, gif) but 500 KB for any other
#: item (its Message resource's MediaUrl); no source names the code, so it is the size code, 11751.
OTHER_ITEM_LIMIT = 500 * 1024
RESIZED_TYPES = frozenset({"image/jpeg", "image/jpg", "image/png", "image/gif"})
#: Provider refusals (in Twilio's codes, which each adapter maps its own to) meaning "not as MMS":
#: 21621 the sender is not enabled for MMS (Telnyx 40308), 30011 the destination takes no MMS.
MMS_REFUSED = frozenset({21621, 30011})
#: The Content-Types Twilio accepts for MMS (twilio.com/docs/messaging/guides/accepted-mime-types).
ACCEPTED_TYPES = frozenset(
    {
        "image/jpeg", "image/jpg", "image/gif", "image/png", "image/bmp", "image/tiff", "image/webp",
        "audio/basic", "audio/l24", "audio/mp4", "audio/mpeg", "audio/ogg", "audio/vnd.rn-realaudio",
        "audio/vnd.wave", "audio/3gpp", "audio/3gpp2", "audio/ac3", "audio/webm", "audio/amr-nb", "audio/amr",
        "video/mpeg", "video/mp4", "video/quicktime", "video/webm", "video/3gpp", "video/3gpp2",
        "video/3gpp-tt", "video/h261", "video/h263", "video/h263-1998", "video/h263-2000", "video/h264",
        "text/vcard", "text/x-vcard", "text/csv", "text/rtf", "text/richtext", "text/calendar",
        "text/directory", "application/pdf", "application/vcard", "application/vnd.apple.pkpass",
    }
)  # fmt: skip
_SPACE = re.compile(r"\s")


class MediaItem(NamedTuple):
    url: str
    content_type: str | None = None


def check_urls(urls: Sequence[str]) -> None:
    """At most ten (21623), each an absolute http(s) URL (21620)."""
    if len(urls) > MAX_MEDIA:
        raise TooManyMedia(f"Too many media: at most {MAX_MEDIA} MediaUrl values are allowed, not {len(urls)}.")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or _SPACE.search(url):
            raise InvalidMediaUrl(f"The media URL {url} is not a valid absolute http(s) URL.")


def judge_heads(answers: Sequence[tuple[str, str | None, int | None]]) -> tuple[str, ...]:
    """The Content-Type of each item from its HEAD answer `(url, content_type, content_length)`:
    a type MMS carries (12300 otherwise), an item other than a resized image within
    `OTHER_ITEM_LIMIT`, all lengths together within `MMS_LIMIT` (11751 for either)."""
    types = []
    for url, content_type, length in answers:
        kind = (content_type or "").split(";")[0].strip().lower()
        if kind not in ACCEPTED_TYPES:
            raise MediaTypeNotAccepted(
                f"The media at {url} has Content-Type {content_type!r}, which MMS does not carry."
            )
        if kind not in RESIZED_TYPES and (length or 0) > OTHER_ITEM_LIMIT:
            raise MediaTooLarge(
                f"The media at {url} ({kind}) is {length} bytes; MMS carries at most {OTHER_ITEM_LIMIT} bytes "
                "of an item that is not a JPEG, PNG or GIF image."
            )
        types.append(kind)
    total = sum(length or 0 for _, _, length in answers)
    if total > MMS_LIMIT:
        raise MediaTooLarge(f"The media add up to {total} bytes, more than the {MMS_LIMIT} bytes an MMS carries.")
    return tuple(types)


def pack(urls: Sequence[str], types: Sequence[str | None] = ()) -> str:
    """The column's text for these items (`types` in the same order, or empty when unknown)."""
    kinds = list(types) or [None] * len(urls)
    return "\n".join(url if kind is None else f"{url}\t{kind}" for url, kind in zip(urls, kinds, strict=True))


def unpack(column: str) -> tuple[MediaItem, ...]:
    return tuple(MediaItem(*line.split("\t", 1)) for line in column.split("\n") if line)


def urls(column: str) -> tuple[str, ...]:
    return tuple(item.url for item in unpack(column))


def media_sid(message_sid: str, index: int) -> str:
    """A media item's sid (`ME…`), the same at every read: derived from its message and place."""
    return "ME" + hashlib.sha256(f"{message_sid}/{index}".encode()).hexdigest()[:32]


def converted_body(body: str, media_urls: Iterable[str]) -> str:
    """The MMS Converter's SMS: the body, then one link per media item, one a line."""
    return "\n".join([*([body] if body else []), *media_urls])
