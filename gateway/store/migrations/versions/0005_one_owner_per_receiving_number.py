"""one account per receiving number and provider

Before the index is built, numbers that two accounts registered with the same provider are
reported (the migration stops and names them) rather than silently kept: which account owns
the number is the operator's call.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 17:00:00
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.db import MigrationBlocked

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RECEIVING = "kind <> 'alpha'"


def upgrade() -> None:
    duplicates = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT address, provider, account_sid, sid FROM sender WHERE {RECEIVING} AND (address, provider) IN "
                f"(SELECT address, provider FROM sender WHERE {RECEIVING} GROUP BY address, provider HAVING COUNT(*) > 1) "
                "ORDER BY address, provider, date_created"
            )
        )
        .all()
    )
    if duplicates:
        lines = "\n".join(
            f"  {row.address} ({row.provider}): account {row.account_sid}, sender {row.sid}" for row in duplicates
        )
        raise MigrationBlocked(
            "these numbers are registered by more than one account with the same provider, so their "
            "inbound messages cannot be attributed; delete all but one registration of each "
            f"(DELETE /2010-04-01/Accounts/{{AccountSid}}/IncomingPhoneNumbers/{{Sid}}.json), "
            f"then migrate again:\n{lines}"
        )
    with op.batch_alter_table("sender", schema=None) as batch_op:
        batch_op.create_index(
            "uq_sender_receiving",
            ["address", "provider"],
            unique=True,
            sqlite_where=sa.text(RECEIVING),
            postgresql_where=sa.text(RECEIVING),
        )


def downgrade() -> None:
    with op.batch_alter_table("sender", schema=None) as batch_op:
        batch_op.drop_index("uq_sender_receiving")
