"""indexes for set-oriented inbound batches

An inbound batch reads the consent states and confirmation slots of all its numbers at once
(`number IN (...)`, the account known only per row), so both tables get an index on number.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 17:40:00
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_opt_out_number", "opt_out", ["number", "account_sid"], unique=False)
    op.create_index("ix_confirmation_number", "confirmation", ["number"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_confirmation_number", table_name="confirmation")
    op.drop_index("ix_opt_out_number", table_name="opt_out")
