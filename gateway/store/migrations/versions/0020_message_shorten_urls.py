"""message.shorten_urls: whether the send asked for ShortenUrls

The MMS Converter may turn a message into an SMS after the provider refused it as MMS
(`dispatch.outcomes.refused`); the links that SMS carries are shortened when the send asked for
it, which the message row must therefore keep.  NULL: inbound, or sent before this revision
(their converted links stay as they are).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("shorten_urls", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("shorten_urls")
