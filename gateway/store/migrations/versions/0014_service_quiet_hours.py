"""a service's own quiet hours

`service.quiet_hours`: send windows the Messaging Service adds to the law's for its marketing
sends ("Mon-Fri 09:00-18:00", one per line, read in the recipient's local time); NULL: only the
policy files' windows apply.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 19:45:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service") as batch:
        batch.add_column(sa.Column("quiet_hours", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("service") as batch:
        batch.drop_column("quiet_hours")
