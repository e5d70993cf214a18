"""The package's shape, read from its source with `ast`: imports go one way, and SQL is written
only in `gateway/store/`.

Nodes are gateway's subpackages and top-level modules (`gateway.dispatch.worker` belongs to
`dispatch`, `gateway.settings` is `settings`).  Every import counts, those inside functions and
under `if TYPE_CHECKING:` too: a late import hides a cycle from Python, not from the design.

A module *builds statements* when it imports anything from SQLAlchemy's statement API (the
`sqlalchemy` package itself, `sqlalchemy.sql…`, `sqlalchemy.dialects…`: `select`, `insert`,
`update`, `delete`, `text`, `func`, `bindparam`, `case`, …) or `select`/`col` from `sqlmodel`,
or hands SQL text to a connection (`.execute("…")`, `.exec("…")`, `.exec_driver_sql(…)`).
`sqlalchemy.engine` (Connection, Engine, Row), `sqlalchemy.exc` and `sqlmodel.Session` stay
allowed everywhere: layers above the store hold connections and catch database errors, they only
never say what to run.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"

_STATEMENT_PACKAGES = ("sqlalchemy.sql", "sqlalchemy.dialects")
_SQLMODEL_STATEMENTS = frozenset({"select", "col"})
_TEXT_RUNNERS = frozenset({"execute", "exec"})


def _modules() -> dict[str, tuple[ast.Module, bool]]:
    """Every module of the package by dotted name: its tree, and whether it is a package's `__init__`."""
    found = {}
    for path in sorted(GATEWAY.rglob("*.py")):
        parts = path.relative_to(GATEWAY.parent).with_suffix("").parts
        if "migrations" in parts:  # Alembic's revisions are the store's own history
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = (ast.parse(path.read_text(), str(path)), parts[-1] == "__init__")
    return found


def _imports(module: str, is_package: bool, tree: ast.Module) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in the module, at any depth."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [alias.name for alias in node.names], node.lineno))
    return found


def _node(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "gateway" and len(parts) > 1 else None


def _graph() -> dict[tuple[str, str], list[str]]:
    """Package → package edges with the import sites that make each."""
    edges: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
    for module, (tree, is_package) in _modules().items():
        for target, _, line in _imports(module, is_package, tree):
            source, destination = _node(module), _node(target)
            if source and destination and source != destination:
                edges[(source, destination)].append(f"{module}:{line} imports {target}")
    return edges


def _cycles(edges: set[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    successors: defaultdict[str, set[str]] = defaultdict(set)
    for source, destination in edges:
        successors[source].add(destination)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(successors[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(successors):
        if node not in index:
            visit(node)
    return components


def _builds_statements(module: str, tree: ast.Module, is_package: bool) -> list[str]:
    """Where the module writes SQL, by the rule of this file's docstring."""
    found = []
    for target, names, line in _imports(module, is_package, tree):
        if (
            target == "sqlalchemy"
            or target.startswith(_STATEMENT_PACKAGES)
            or (target == "sqlmodel" and _SQLMODEL_STATEMENTS & set(names))
        ):
            found.append(f"{module}:{line} imports {', '.join(names) or target} from {target}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            text = node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
            if node.func.attr == "exec_driver_sql" or (node.func.attr in _TEXT_RUNNERS and text):
                found.append(f"{module}:{node.lineno} runs SQL text")
    return found


def test_imports_between_packages_form_no_cycle() -> None:
    """No package imports, directly or around a loop, a package that imports it."""
    edges = _graph()
    cycles = _cycles(set(edges))
    report = [
        f"cycle through {', '.join(cycle)}:\n"
        + "\n".join(
            f"  {a} → {b}: {sites[0]}" + (f" (and {len(sites) - 1} more)" if len(sites) > 1 else "")
            for (a, b), sites in sorted(edges.items())
            if a in cycle and b in cycle
        )
        for cycle in cycles
    ]
    assert not report, "\n".join(report)


def test_only_the_store_builds_statements() -> None:
    """Outside `gateway/store/`, no module imports the statement API or runs SQL text."""
    found = [
        site
        for module, (tree, is_package) in _modules().items()
        if not module.startswith("gateway.store")
        for site in _builds_statements(module, tree, is_package)
    ]
    assert not found, "statements outside gateway/store/:\n" + "\n".join(found)
