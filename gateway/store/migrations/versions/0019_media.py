"""media: the MMS Converter and the media check per Messaging Service, MMS per sender

`service.mms_converter` (Twilio's, on by default): media that cannot go as MMS goes as an SMS with
a link per item.  `service.media_check` (the gateway's own, off by default): each MediaUrl's
headers are fetched (HEAD) before the send is queued.  `sender.mms`: whether the sender can send
MMS as registered; NULL (every sender registered before): as its kind can (numbers yes; short
codes and alphanumeric senders no).

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("service") as batch:
        batch.add_column(sa.Column("mms_converter", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("media_check", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("sender") as batch:
        batch.add_column(sa.Column("mms", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sender") as batch:
        batch.drop_column("mms")
    with op.batch_alter_table("service") as batch:
        batch.drop_column("media_check")
        batch.drop_column("mms_converter")
