"""request ids on messages and deliveries

The id of the HTTP request that caused a message (an API send, a provider's webhook) is kept on
its row, and on the app deliveries it causes, so that it survives the queue: dispatch logs it,
and the request to the provider and the forward to the app carry it as X-Request-Id.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 20:00:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_column("request_id")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("request_id")
