"""parts of long inbound messages awaiting the rest

Vonage delivers each part of a long inbound message as its own webhook, in any order; the
parts wait here until all are in (or the wait ends) and are then handed on as one message.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 18:00:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_part",
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("to", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("provider_sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("raw", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("joined_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("provider", "sender", "to", "ref", "number"),
    )
    op.create_index("ix_inbound_part_pending", "inbound_part", ["joined_at", "received_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbound_part_pending", table_name="inbound_part")
    op.drop_table("inbound_part")
