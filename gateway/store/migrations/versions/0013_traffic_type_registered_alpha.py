"""traffic type and alpha sender registration

`service.traffic_type` is the category a send through the service has when it does not name one
(`TrafficType`: marketing or transactional; quiet hours hold only marketing).  `sender.
registered_countries` lists, for an alpha sender, the countries it is registered for
(comma-separated ISO codes), which countries whose policy says `registration_required` check.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 20:15:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service") as batch:
        batch.add_column(
            sa.Column(
                "traffic_type",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="transactional",
            )
        )
    with op.batch_alter_table("sender") as batch:
        batch.add_column(sa.Column("registered_countries", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sender") as batch:
        batch.drop_column("registered_countries")
    with op.batch_alter_table("service") as batch:
        batch.drop_column("traffic_type")
