"""The layout's one-way arrows, read from every module's imports with ``ast``: the core imports
only itself, ``models/`` only the core, ``commerce/`` neither the web layer nor the pipelines,
``pipelines/`` not the web layer, and nothing imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("shopflow", "models", "commerce", "pipelines", "serving", "cli")

#: package -> the project packages it may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "shopflow": set(),
    "models": {"shopflow"},
    "commerce": {"shopflow", "models"},
    "pipelines": {"shopflow", "models", "commerce"},
    "serving": {"shopflow", "models", "commerce", "pipelines"},
    "cli": {"shopflow", "models", "commerce", "pipelines", "serving"},
}


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """The project packages a module imports (at any depth, type-checking blocks included),
    with the line of each import."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in PACKAGES:
                found.add((top, node.lineno))
    return found


def violations(package: str) -> list[str]:
    allowed = ALLOWED[package] | {package}
    return [
        f"{path.relative_to(ROOT)}:{line} imports {top}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for top, line in sorted(imported_packages(path))
        if top not in allowed
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_down_only(package: str) -> None:
    assert violations(package) == []


def test_the_check_sees_a_wrong_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import os\nif True:\n    from serving.app import create_app\n")
    assert imported_packages(module) == {("serving", 3)}
