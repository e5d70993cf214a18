"""Every failure a caller can act on, and the only place Twilio's codes appear.

Exception
├── GatewayError(code, status, message)     → Twilio JSON error body
│   ├── BadRequest                          400 / 21100 (a parameter is wrong)
│   │   ├── ToRequired 21604 · FromRequired 21603 · InvalidTo 21211 · InvalidFrom 21212
│   │   ├── FromNotOwned 21606 · BodyRequired 21602 · BodyTooLong 21617 · InvalidMediaUrl 21620
│   │   ├── TooManyMedia 21623 · MmsNotEnabled 21621 · MmsUnreachable 21612 (no MMS Converter to fall back on)
│   │   ├── MediaTypeNotAccepted 12300 · MediaTooLarge 11751 · MediaUnreachable 63019 (the HEAD check)
│   │   ├── InvalidUrl 21402 (InboundRequestUrl, FallbackUrl, SmsUrl) · InvalidStatusCallback 21609
│   │   ├── InvalidValidityPeriod 21624 · RegionNotPermitted 21408 · RecipientUnsubscribed 21610
│   │   ├── QueueOverflow 21611 · ServiceNotFound 21701 · NoSenderAvailable 21703
│   │   ├── AlreadyRegistered 21422 (an address the account, or another account, has)
│   │   ├── NumberInAnotherService 21710 · OneAlphaSenderPerService 21714
│   │   ├── OutsideSendWindow 30004 (marketing outside quiet hours, where the policy refuses)
│   │   ├── AlphaNotSupported 21612 · SenderIdNotRegistered 30018 (alpha sender IDs, by country)
│   │   ├── SendAtMissing 35111 · SendAtOutOfWindow 35115 · ScheduleNeedsService 35118
│   │   └── ScheduleTypeUnsupported 35126 · NotCancelable 30409 (no longer scheduled)
│   ├── AuthenticationFailed                401 / 20003
│   ├── Forbidden                           403 / 20403
│   ├── NotFound                            404 / 20404
│   ├── MethodNotAllowed                    405 / 20004
│   ├── PayloadTooLarge                     413 / 21617
│   ├── TooManyRequests                     429 / 20429 (API rate limit, failed sign-ins; Retry-After)
│   ├── PolicyUnavailable                   503 / 20500 (no valid policy revision is loaded)
│   ├── DatabaseUnavailable                 503 / 20503 (nothing can be stored now; Retry-After)
│   └── InternalError                       500 / 20500 (an unexpected exception, by reference)
├── PolicyError(file, line, key, message)   prints as `file:line: key: message`
└── SettingsError                           names the bad GATEWAY_* variable
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def more_info(code: int) -> str:
    return f"https://www.twilio.com/docs/errors/{code}"


class GatewayError(Exception):
    """An error answered to an HTTP caller in Twilio's JSON shape."""

    status = 400
    code = 21100
    retry_after: int | None = None  # seconds, sent as Retry-After: the caller may try again then

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "more_info": more_info(self.code), "status": self.status}


class BadRequest(GatewayError):
    status = 400
    code = 21100


class AuthenticationFailed(GatewayError):
    status = 401
    code = 20003


class Forbidden(GatewayError):
    """A request that proved who sent it, but may not do what it asks (a webhook for another provider's number)."""

    status = 403
    code = 20403


class NotFound(GatewayError):
    status = 404
    code = 20404


class MethodNotAllowed(GatewayError):
    status = 405
    code = 20004


class ToRequired(BadRequest):
    code = 21604


class FromRequired(BadRequest):
    code = 21603


class InvalidTo(BadRequest):
    code = 21211


class InvalidFrom(BadRequest):
    code = 21212


class FromNotOwned(BadRequest):
    code = 21606


class BodyRequired(BadRequest):
    code = 21602


class BodyTooLong(BadRequest):
    code = 21617


class InvalidMediaUrl(BadRequest):
    code = 21620


class TooManyMedia(BadRequest):
    code = 21623


class MmsNotEnabled(BadRequest):
    """Media from a sender that cannot send MMS, with no MMS Converter to send it as SMS instead."""

    code = 21621


class MmsUnreachable(BadRequest):
    """Media to a country the policy says takes no MMS, with no MMS Converter to send it as SMS instead."""

    code = 21612


class MediaTypeNotAccepted(BadRequest):
    """The media check found a Content-Type no MMS carries."""

    code = 12300


class MediaTooLarge(BadRequest):
    """The media check found more bytes than the channel takes (5 MB for MMS, all media together)."""

    code = 11751


class MediaUnreachable(BadRequest):
    """The media check could not fetch the media's headers (no answer, or not a 2xx)."""

    code = 63019


class InvalidUrl(BadRequest):
    """An app's URL (a service's InboundRequestUrl or FallbackUrl, a number's SmsUrl) that is no
    absolute http(s) URL, or whose destination the callback policy refuses (Twilio's "Invalid URL")."""

    code = 21402


class InvalidStatusCallback(BadRequest):
    """A StatusCallback (a message's, a notification's or a service's) refused as `InvalidUrl` is."""

    code = 21609


class InvalidValidityPeriod(BadRequest):
    code = 21624


class RegionNotPermitted(BadRequest):
    code = 21408


class RecipientUnsubscribed(BadRequest):
    code = 21610


class QueueOverflow(BadRequest):
    code = 21611


class ServiceNotFound(BadRequest):
    code = 21701


class NoSenderAvailable(BadRequest):
    code = 21703


class AlreadyRegistered(BadRequest):
    code = 21422


class NumberInAnotherService(BadRequest):
    code = 21710


class OneAlphaSenderPerService(BadRequest):
    code = 21714


class OutsideSendWindow(BadRequest):
    """A marketing send outside the recipient's send window where the policy says `refuse` (Twilio's
    "Message blocked": the gateway blocks it rather than let the carrier or the law do so)."""

    code = 30004


class AlphaNotSupported(BadRequest):
    """An alphanumeric From to a country whose carriers never deliver alpha senders (US, Canada)."""

    code = 21612


class SenderIdNotRegistered(BadRequest):
    """An alpha sender not registered for a country that requires it, where the policy refuses."""

    code = 30018


class SendAtMissing(BadRequest):
    code = 35111


class SendAtOutOfWindow(BadRequest):
    """`SendAt` is not an ISO 8601 moment, or not between the minimum lead time and 35 days ahead."""

    code = 35115


class ScheduleNeedsService(BadRequest):
    code = 35118


class ScheduleTypeUnsupported(BadRequest):
    code = 35126


class NotCancelable(BadRequest):
    """Only a `scheduled` message can be canceled."""

    code = 30409


class PolicyUnavailable(GatewayError):
    """No valid policy revision is loaded: keywords cannot be decided, so nothing is accepted."""

    status = 503
    code = 20500


class PayloadTooLarge(GatewayError):
    status = 413
    code = 21617


class TooManyRequests(GatewayError):
    """The account made more API requests than its rate limit allows, or the client address failed
    to sign in too often (Twilio's 20429)."""

    status = 429
    code = 20429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseUnavailable(GatewayError):
    """The database cannot be reached or written now: a request it would have to store is refused
    rather than accepted and lost (Twilio's 20503, Service Unavailable)."""

    status = 503
    code = 20503
    retry_after = 5


class InternalError(GatewayError):
    """What the caller of a request that failed unexpectedly is told: only a reference, which the
    log line carrying the traceback also has."""

    status = 500
    code = 20500

    def __init__(self, reference: str) -> None:
        super().__init__(f"An unexpected error occurred; the gateway's log has it under reference {reference}.")
        self.reference = reference


#: Asynchronous failure codes, recorded on messages (never raised at the API).
VALIDITY_EXPIRED = 30036
UNKNOWN_ERROR = 30008

#: Starlette's HTTPException statuses → the Twilio code that names them.
HTTP_CODES: dict[int, int] = {400: 21100, 401: 20003, 403: 20403, 404: 20404, 405: 20004, 413: 21617}


@dataclass(frozen=True)
class PolicyError(Exception):
    """A policy or catalog problem, located for the person who must fix it."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.message}"


class SettingsError(ValueError):
    """A GATEWAY_* environment variable holds a value that cannot be used."""
