"""Routers are thin: no database access and no app state reads in ``serving/routers/``; they
validate, call a ``commerce`` function and shape the response."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import serving.routers

ROUTERS_DIR = Path(serving.routers.__file__).parent
FORBIDDEN_IMPORTS = ("commerce.db", "sqlalchemy")


def _modules() -> list[Path]:
    return sorted(ROUTERS_DIR.glob("*.py"))


def _imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    return found


def _called_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return names


def _app_state_reads(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "state"
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "app"
    ]


def test_there_are_routers_to_check() -> None:
    assert len(_modules()) > 10


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_router_has_no_database_access(path: Path) -> None:
    tree = ast.parse(path.read_text(), str(path))
    bad = [
        name
        for name in _imports(tree)
        if any(name == f or name.startswith(f"{f}.") for f in FORBIDDEN_IMPORTS)
    ]
    assert not bad, f"{path.name} imports {bad}: move the query into commerce/"
    assert "session_scope" not in _called_names(tree), f"{path.name} opens a session"
    assert not [n for n in _imports(tree) if n.endswith("session_scope")], path.name


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_router_reads_no_app_state(path: Path) -> None:
    lines = _app_state_reads(ast.parse(path.read_text(), str(path)))
    assert not lines, f"{path.name} reads app.state on lines {lines}: use a serving.deps alias"
