"""accounts services senders messages

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:48:10.780171
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "account",
        sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("auth_token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("friendly_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("date_created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sid"),
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("account_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("ordering_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("params", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("date_created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("date_updated", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index("ix_delivery_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_delivery_ordering_key"), ["ordering_key"], unique=False)

    op.create_table(
        "message_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("message_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_event_message_sid"), ["message_sid"], unique=False)

    op.create_table(
        "message",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("account_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("service_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=True),
        sa.Column("sender_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=True),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("sender", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("to", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("body", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("media", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("num_segments", sa.Integer(), nullable=False),
        sa.Column("encoding", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status_callback", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("provider_sid", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("date_created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("date_updated", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("date_sent", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_sid"],
            ["account.sid"],
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("sid"),
    )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.create_index("ix_message_account_created", ["account_sid", "date_created"], unique=False)
        batch_op.create_index("ix_message_expiry", ["status", "expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_message_provider_sid"), ["provider_sid"], unique=False)
        batch_op.create_index("ix_message_queue", ["sender_sid", "status", "priority", "seq"], unique=False)

    op.create_table(
        "opt_out",
        sa.Column("account_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("service_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("date_updated", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_sid"],
            ["account.sid"],
        ),
        sa.PrimaryKeyConstraint("account_sid", "service_sid", "number", "channel"),
    )
    op.create_table(
        "service",
        sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("account_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("friendly_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("inbound_request_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("inbound_method", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("fallback_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("fallback_method", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("status_callback", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("sticky_sender", sa.Boolean(), nullable=False),
        sa.Column("area_code_geomatch", sa.Boolean(), nullable=False),
        sa.Column("smart_encoding", sa.Boolean(), nullable=False),
        sa.Column("validity_period", sa.Integer(), nullable=False),
        sa.Column("use_inbound_webhook_on_number", sa.Boolean(), nullable=False),
        sa.Column("allowed_countries", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("date_created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("date_updated", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_sid"],
            ["account.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
    )
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_account_sid"), ["account_sid"], unique=False)

    op.create_table(
        "sender",
        sa.Column("sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("account_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("mps", sa.Integer(), nullable=False),
        sa.Column("service_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=True),
        sa.Column("sms_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("date_created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("date_updated", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_sid"],
            ["account.sid"],
        ),
        sa.ForeignKeyConstraint(
            ["service_sid"],
            ["service.sid"],
        ),
        sa.PrimaryKeyConstraint("sid"),
        sa.UniqueConstraint("account_sid", "address"),
    )
    with op.batch_alter_table("sender", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sender_account_sid"), ["account_sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_sender_service_sid"), ["service_sid"], unique=False)

    op.create_table(
        "sticky_mapping",
        sa.Column("service_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sender_sid", sqlmodel.sql.sqltypes.AutoString(length=34), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("date_updated", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_sid"],
            ["sender.sid"],
        ),
        sa.ForeignKeyConstraint(
            ["service_sid"],
            ["service.sid"],
        ),
        sa.PrimaryKeyConstraint("service_sid", "recipient"),
    )
    with op.batch_alter_table("sticky_mapping", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sticky_mapping_sender_sid"), ["sender_sid"], unique=False)

    with op.batch_alter_table("policy_revision", schema=None) as batch_op:
        batch_op.alter_column(
            "files", existing_type=sa.TEXT(), type_=sqlmodel.sql.sqltypes.AutoString(), existing_nullable=False
        )


def downgrade() -> None:

    with op.batch_alter_table("policy_revision", schema=None) as batch_op:
        batch_op.alter_column(
            "files", existing_type=sqlmodel.sql.sqltypes.AutoString(), type_=sa.TEXT(), existing_nullable=False
        )

    with op.batch_alter_table("sticky_mapping", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sticky_mapping_sender_sid"))

    op.drop_table("sticky_mapping")
    with op.batch_alter_table("sender", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sender_service_sid"))
        batch_op.drop_index(batch_op.f("ix_sender_account_sid"))

    op.drop_table("sender")
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_account_sid"))

    op.drop_table("service")
    op.drop_table("opt_out")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index("ix_message_queue")
        batch_op.drop_index(batch_op.f("ix_message_provider_sid"))
        batch_op.drop_index("ix_message_expiry")
        batch_op.drop_index("ix_message_account_created")

    op.drop_table("message")
    with op.batch_alter_table("message_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_event_message_sid"))

    op.drop_table("message_event")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_ordering_key"))
        batch_op.drop_index("ix_delivery_due")

    op.drop_table("delivery")
    op.drop_table("account")
