"""The database tables.  Every schema change comes with an Alembic migration."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel


class PolicyRevision(SQLModel, table=True):
    """Each policy revision that ever served, with its files, so that an audited
    decision's `policy_revision` can always be turned back into the exact rules."""

    __tablename__ = "policy_revision"

    id: str = Field(primary_key=True, max_length=64)
    loaded_at: datetime
    files: str  # JSON object: relative path → file text
