"""Alembic environment: runs migrations on the URL that `gateway.store.db.migrate` passes."""

from alembic import context
from sqlmodel import SQLModel

import gateway.store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from gateway.store.db import make_engine

config = context.config
engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=SQLModel.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
finally:  # a migration that stops (MigrationBlocked) must not leave a connection open
    engine.dispose()
