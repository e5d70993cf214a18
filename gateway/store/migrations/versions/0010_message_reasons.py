"""message reasons: why the gateway did what it did with an outbound message

Each gate's verdict with the policy line or setting behind it, the sender routing picked and
its rule, the encoding and the outcome, as deflated JSON (`store.tables.PackedJSON` of
`dispatch.submit.Plan.reasons`), the same answer `POST /v1/Messages/Explain` gives before a
send.  Older messages have none (NULL).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("reasons", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("reasons")
