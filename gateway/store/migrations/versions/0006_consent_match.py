"""how sure a keyword consent change was

`match` is how the keyword was found (exact: the whole message; phrase: a policy phrase in it;
embedded: a keyword inside a longer message), `exception` the policy exception that neutralised
another occurrence of an opt-out word in the same message.  Both are empty for staff changes,
imports and the events recorded before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08 10:00:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("match", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column("exception", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.drop_column("exception")
        batch_op.drop_column("match")
