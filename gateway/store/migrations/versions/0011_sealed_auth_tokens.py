"""sealed auth tokens: encrypted at rest, and the previous token's grace after a rotation

Auth tokens were stored in clear.  They are now Fernet tokens (`gateway.tokens`), longer than
the plain 32 hex digits, so the column widens and every existing token is sealed here, with the
key `gateway migrate` was given (GATEWAY_SECRET_KEY, its file, or SQLite's default key file).
A database with accounts and no key stops here, saying what to set: never a plaintext fallback.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 20:10:00
"""

from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import context, op

from gateway.store.db import MigrationBlocked

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ACCOUNT = sa.table("account", sa.column("sid", sa.String), sa.column("auth_token", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.alter_column(
            "auth_token",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=64),
            type_=sqlmodel.sql.sqltypes.AutoString(length=255),
            existing_nullable=False,
        )
        batch.add_column(sa.Column("previous_token", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True))
        batch.add_column(sa.Column("previous_token_expires", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    connection = op.get_bind()
    accounts = connection.execute(sa.select(_ACCOUNT.c.sid, _ACCOUNT.c.auth_token)).all()
    if accounts:
        cipher = _cipher(len(accounts), "to be encrypted now")
        for sid, token in accounts:
            connection.execute(sa.update(_ACCOUNT).where(_ACCOUNT.c.sid == sid).values(auth_token=cipher.seal(token)))


def downgrade() -> None:
    connection = op.get_bind()
    accounts = connection.execute(sa.select(_ACCOUNT.c.sid, _ACCOUNT.c.auth_token)).all()
    if accounts:
        cipher = _cipher(len(accounts), "to be decrypted for the older schema")
        for sid, sealed in accounts:
            connection.execute(sa.update(_ACCOUNT).where(_ACCOUNT.c.sid == sid).values(auth_token=cipher.open(sealed)))
    with op.batch_alter_table("account") as batch:
        batch.drop_column("previous_token_expires")
        batch.drop_column("previous_token")
        batch.alter_column(
            "auth_token",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=255),
            type_=sqlmodel.sql.sqltypes.AutoString(length=64),
            existing_nullable=False,
        )


def _cipher(accounts: int, purpose: str) -> Any:
    """The deployment's TokenCipher, which `gateway.store.db.migrate` was handed as a way to make it."""
    make = context.config.attributes.get("token_cipher")
    if make is None:
        raise MigrationBlocked(
            f"{accounts} accounts have auth tokens {purpose}, which needs the key: run "
            "`gateway migrate` with GATEWAY_SECRET_KEY (or GATEWAY_SECRET_KEY_FILE) set"
        )
    return make()
