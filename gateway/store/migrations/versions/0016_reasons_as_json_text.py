"""message reasons as compact JSON text, no longer deflated

A message's reasons (reason ids with their parameters, each gate's verdict, the route, the
outcome) were kept as deflated JSON in a binary column; deflating cost the writer about 60 µs a
message, most of a send's row.  They are now the same JSON as compact text
(`store.tables.JSONText`), which staff can also query in place.  This inflates the rows kept
before into the new column; what Explain and the console show of them is unchanged.  Downgrading
deflates them back.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 10:00:00
"""

import json
import zlib
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_CHUNK = 1000  # rows read and rewritten at a time, so a large table is never held in memory


def _inflate(kept: bytes) -> str:
    return json.dumps(json.loads(zlib.decompress(kept)), separators=(",", ":"), ensure_ascii=False)


def _deflate(kept: str) -> bytes:
    return zlib.compress(kept.encode())


def _convert(old: str, new: str, new_type: sa.types.TypeEngine[Any], change: Callable[[Any], Any]) -> None:
    """Move the message's reasons from column `old` to a new column `new` of `new_type`, each
    value changed by `change`; the new column then takes the name `reasons`."""
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column(new, new_type, nullable=True))
    message = sa.table("message", sa.column("seq", sa.Integer), sa.column(old), sa.column(new))
    read = (
        sa.select(message.c.seq, message.c[old])
        .where(message.c[old].is_not(None), message.c.seq > sa.bindparam("after"))
        .order_by(message.c.seq)
        .limit(_CHUNK)
    )
    write = sa.update(message).where(message.c.seq == sa.bindparam("ref")).values({new: sa.bindparam("kept")})
    connection = op.get_bind()
    after = 0
    while rows := connection.execute(read, {"after": after}).all():
        connection.execute(write, [{"ref": seq, "kept": change(kept)} for seq, kept in rows])
        after = rows[-1][0]
    with op.batch_alter_table("message") as batch:
        batch.drop_column(old)
    with op.batch_alter_table("message") as batch:
        batch.alter_column(new, new_column_name="reasons")


def upgrade() -> None:
    _convert("reasons", "reasons_text", sa.Text(), _inflate)


def downgrade() -> None:
    _convert("reasons", "reasons_packed", sa.LargeBinary(), _deflate)
