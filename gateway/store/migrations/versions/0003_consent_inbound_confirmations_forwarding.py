"""consent inbound confirmations forwarding

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 11:38:43.735641
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "confirmation",
        sa.Column("account_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account_sid", "number", "kind"),
    )
    op.create_table(
        "consent_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("keyword", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("language", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("inbound_message_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=True),
        sa.Column("policy_revision", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.create_index("ix_consent_event_number", ["account_sid", "number"], unique=False)

    op.create_table(
        "inbound_receipt",
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("provider_sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("message_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("date_created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "provider_sid"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fallback_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "fallback_method", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False, server_default="POST"
            )
        )
        batch_op.add_column(
            sa.Column("format", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False, server_default="twilio")
        )

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opt_out_type", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))

    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.add_column(sa.Column("brand", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("help_contact", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "inbound_format", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False, server_default="twilio"
            )
        )
        batch_op.add_column(sa.Column("webhook_secret", sqlmodel.sql.sqltypes.AutoString(), nullable=True))

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_recipient", ["account_sid", "to", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_recipient")

    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret")
        batch_op.drop_column("inbound_format")
        batch_op.drop_column("help_contact")
        batch_op.drop_column("brand")

    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("opt_out_type")

    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_column("format")
        batch_op.drop_column("fallback_method")
        batch_op.drop_column("fallback_url")

    op.drop_table("inbound_receipt")
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_event_number")

    op.drop_table("consent_event")
    op.drop_table("confirmation")
