"""held messages: a due time and the reason they wait

A message held until a moment (the app's `SendAt`, or a rule such as quiet hours) is stored
`scheduled` with `send_at`, the moment it comes due, and `hold_reason`, what held it.  Workers
find the due ones through `ix_message_due` and queue them in one statement.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 19:50:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("send_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("hold_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_index("ix_message_due", "message", ["status", "send_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_message_due", table_name="message")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("hold_reason")
        batch.drop_column("send_at")
