"""generic delivery errors: what tenants read about a failed app delivery

`delivery.last_error` held the HTTP client's own words ("ConnectError: [Errno 111] Connection
refused"), shown to tenants by `GET /v1/DeadLetters`: told apart from a timeout or an HTTP status,
they map which ports answer inside the gateway's network.  The forwarder now records a generic
reason (`connect failed`, `timeout`, `connection error`, `invalid URL`, `request failed`, or the
answer's `HTTP <status>`); this rewrites the errors recorded before, dead letters included, in the
same words.  The client's words are not kept (the log had them); downgrading leaves the reasons.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 10:00:00
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_DELIVERY = sa.table("delivery", sa.column("id", sa.Integer), sa.column("last_error", sa.String))
_FALLBACK = "; fallback: "  # the primary URL's error, then the fallback URL's
_GENERIC = {"connect failed", "timeout", "connection error", "invalid URL", "request failed"}
# httpx2's exception names as the forwarder recorded them ("Name: message"), by reason.
_BY_NAME = {
    "ConnectError": "connect failed",
    "InvalidURL": "invalid URL",
    "UnsupportedProtocol": "invalid URL",
    **dict.fromkeys(
        ("ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException", "TimeoutError"), "timeout"
    ),
    **dict.fromkeys(
        (
            "ReadError",
            "WriteError",
            "CloseError",
            "NetworkError",
            "RemoteProtocolError",
            "LocalProtocolError",
            "ProtocolError",
            "ProxyError",
            "TransportError",
        ),
        "connection error",
    ),
}


def _reason(error: str) -> str:
    if error in _GENERIC or re.fullmatch(r"HTTP \d{3}", error):
        return error
    return _BY_NAME.get(error.partition(":")[0], "request failed")


def _generic(error: str) -> str:
    """A recorded error in the new words: the primary URL's, and the fallback URL's after it."""
    return _FALLBACK.join(_reason(part) for part in error.split(_FALLBACK, 1))


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_DELIVERY.c.id, _DELIVERY.c.last_error).where(_DELIVERY.c.last_error.is_not(None))
    ).all()
    changed = [{"ref": ref, "reason": reason} for ref, error in rows if (reason := _generic(error)) != error]
    if changed:
        connection.execute(
            sa.update(_DELIVERY).where(_DELIVERY.c.id == sa.bindparam("ref")).values(last_error=sa.bindparam("reason")),
            changed,
        )


def downgrade() -> None:
    pass
