"""short links and their clicks

`link`: each short link a send made (`ShortenUrls=true`), by its code: the app's link, the
message, until when it redirects.  `link_click`: every request for one, with its user agent and
whether it looked like a person (`human`) or a previewer or scanner (`preview`).  `service`
gains the link-shortening settings: its branded domain, the fallback URL of expired links,
DisableHttps, and the URL click events are posted to.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 10:00:00
"""

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("service") as batch:
        batch.add_column(sa.Column("link_domain", _TEXT(), nullable=True))
        batch.add_column(sa.Column("link_fallback_url", _TEXT(), nullable=True))
        batch.add_column(sa.Column("disable_https", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("click_callback_url", _TEXT(), nullable=True))
    op.create_table(
        "link",
        sa.Column("code", _TEXT(length=16), primary_key=True),
        sa.Column("account_sid", _TEXT(length=34), nullable=False),
        sa.Column("service_sid", _TEXT(length=34), nullable=False),
        sa.Column("message_sid", _TEXT(length=34), nullable=False),
        sa.Column("url", _TEXT(), nullable=False),
        sa.Column("shortened", _TEXT(), nullable=False),
        sa.Column("date_created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_link_message_sid", "link", ["message_sid"])
    op.create_table(
        "link_click",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", _TEXT(length=16), nullable=False),
        sa.Column("message_sid", _TEXT(length=34), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("method", _TEXT(length=8), nullable=False),
        sa.Column("user_agent", _TEXT(), nullable=True),
        sa.Column("kind", _TEXT(length=8), nullable=False),
    )
    op.create_index("ix_link_click_code", "link_click", ["code"])
    op.create_index("ix_link_click_message_sid", "link_click", ["message_sid"])


def downgrade() -> None:
    op.drop_table("link_click")
    op.drop_table("link")
    with op.batch_alter_table("service") as batch:
        batch.drop_column("click_callback_url")
        batch.drop_column("disable_https")
        batch.drop_column("link_fallback_url")
        batch.drop_column("link_domain")
