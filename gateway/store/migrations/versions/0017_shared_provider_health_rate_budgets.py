"""provider outages and rate budgets: provider health and the API rate limit shared by every process

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0017"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_outage",
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("next_probe", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("probing", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )
    op.create_table(
        "rate_budget",
        sa.Column("account_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated", sa.Float(), nullable=False),
        sa.Column("granted", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_sid"),
    )


def downgrade() -> None:
    op.drop_table("rate_budget")
    op.drop_table("provider_outage")
