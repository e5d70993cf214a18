"""Work that must happen only once a transaction committed (counting what it wrote, for metrics).

`after_commit(session, fn, *args)` runs `fn(*args)` after the session's outermost transaction
commits, and never if the transaction, or the SAVEPOINT it was registered in, rolls back: the
writer runs each job in a SAVEPOINT and retries a failed batch job by job, so work done before
the commit would count a refused job's writes, or a retried batch's writes twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_KEY = "gateway.after_commit"


def after_commit(session: Session, fn: Callable[..., None], *args: Any) -> None:
    """Run `fn(*args)` once the transaction this session is in has committed."""
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_KEY, []).append((transaction, fn, args))


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a SAVEPOINT released: its work waits for the outermost commit
    for _, fn, args in session.info.pop(_KEY, ()):
        fn(*args)


@event.listens_for(Session, "after_soft_rollback")
def _drop(session: Session, previous: SessionTransaction) -> None:
    """A rolled-back SAVEPOINT drops what was registered in it (or in SAVEPOINTs within it);
    the outermost transaction's rollback drops everything."""
    pending = session.info.get(_KEY)
    if not pending:
        return
    session.info[_KEY] = [entry for entry in pending if not _within(entry[0], previous)]


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False
