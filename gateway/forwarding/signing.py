"""Signatures apps can check.  Pure.

- Twilio's form format: X-Twilio-Signature with the gateway account's auth token,
  so app code that validates Twilio webhooks accepts ours unchanged.
- JSON format: Standard Webhooks (https://www.standardwebhooks.com/): `webhook-id`,
  `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
  which gives apps replay protection (reject old timestamps, remember ids).
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def _key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret[len(SECRET_PREFIX) :])
    return secret.encode()


def standard_webhook_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{digest}"}


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The check an app runs (used by tests and documented for app authors)."""
    expected = standard_webhook_headers(secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
    given = {part.strip() for part in headers["webhook-signature"].split(" ")}
    return expected["webhook-signature"] in given
