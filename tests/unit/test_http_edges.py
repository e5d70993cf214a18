"""Structural guards on the HTTP edges (`gateway/api`, `gateway/console`): they build no SQL and
they reach the database only off the event loop.

The rules, checked on the source's syntax tree:

1. Statements are the store's.  No module of the edges imports a statement builder (`select`,
   `insert`, `update`, `delete`, `text`, `func`, …) from SQLAlchemy or SQLModel, nor `core_table`:
   an edge calls a named function of `gateway.store`.
2. The engine is touched only off the loop.  Every database read or write needs a connection,
   which comes from the engine, or a Session, which the writer thread hands to its jobs.  So an
   edge never constructs a `Session`, never calls `.connect()` or `.begin()`, and names the engine
   (`….engine`) only as an argument of a call that runs it in a worker thread: `reads.read` (what
   `api.common.read` and `console.web.Page.read` call), `asyncio.to_thread`, or `csv_chunks`, whose
   generator Starlette's StreamingResponse iterates in its threadpool.  A function of a Session
   called on the loop would need a Session there, which rule 2 leaves none to be had.

What the rules cannot see: objects the app hands the edges that read inside their own methods.
`accounts.Accounts` reads an account's row when its cache misses, off the loop
(`store.reads.SIGN_INS`); tests/api/test_event_loop.py holds such a read and checks that the
loop goes on answering.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

EDGES = [Path(__file__).resolve().parents[2] / "gateway" / part for part in ("api", "console")]
SOURCES = sorted(path for edge in EDGES for path in edge.glob("*.py"))
BUILDERS = {
    "select",
    "insert",
    "update",
    "delete",
    "text",
    "func",
    "tuple_",
    "literal_column",
    "bindparam",
    "and_",
    "or_",
    "exists",
    "case",
    "core_table",
}
OFF_LOOP = {"read", "to_thread", "csv_chunks"}


def _name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def _statement_imports(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            source = node.module.split(".")[0]
            if source in ("sqlalchemy", "sqlmodel") or node.module == "gateway.store.tables":
                found += [f"line {node.lineno}: {alias.name}" for alias in node.names if alias.name in BUILDERS]
    return found


def _loop_database_access(tree: ast.Module) -> list[str]:
    allowed: set[int] = set()  # the engine nodes handed to a worker thread
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in OFF_LOOP:
            allowed |= {id(arg) for arg in node.args if _name(arg) == "engine"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "engine" and id(node) not in allowed:
            found.append(f"line {node.lineno}: the engine outside a worker thread")
        if isinstance(node, ast.Call) and (
            _name(node.func) == "Session"
            or (isinstance(node.func, ast.Attribute) and node.func.attr in ("connect", "begin"))
        ):
            found.append(f"line {node.lineno}: {ast.unparse(node.func)}()")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_an_edge_module_imports_no_statement_builder(path):
    assert _statement_imports(ast.parse(path.read_text())) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_an_edge_module_reaches_the_database_only_in_a_worker_thread(path):
    assert _loop_database_access(ast.parse(path.read_text())) == []


def test_the_rules_see_what_main_did():
    """The rules fail on the shapes the edges had before they read off the loop."""
    before = ast.parse(
        "from sqlalchemy import select\n"
        "async def listing(request):\n"
        "    with Session(request.app.state.engine) as session:\n"
        "        rows = session.execute(select(Message)).all()\n"
        "    with request.app.state.engine.connect() as connection:\n"
        "        pass\n"
    )
    assert _statement_imports(before) == ["line 1: select"]
    assert len(_loop_database_access(before)) == 4
