"""The package's layout: sub-packages in layers, no import circle, short modules, and the
project's own modules imported at the top of a module, never inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import require_module

PACKAGE = Path(__file__).resolve().parent.parent / "sacrop_cli"
MODULES = sorted(PACKAGE.rglob("*.py"))


def test_no_module_is_over_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in MODULES
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}


def _own_imports_inside_functions(path: Path) -> list[str]:
    """``from sacrop_cli... import`` statements nested in a function body."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and (inner.module or "").startswith(
                    "sacrop_cli"
                ):
                    found.append(f"{path.relative_to(PACKAGE)}:{inner.lineno}")
                if isinstance(inner, ast.Import) and any(
                    a.name.startswith("sacrop_cli") for a in inner.names
                ):
                    found.append(f"{path.relative_to(PACKAGE)}:{inner.lineno}")
    return found


def test_the_projects_modules_are_imported_at_module_level():
    assert [hit for p in MODULES for hit in _own_imports_inside_functions(p)] == []


def test_the_import_graph_has_no_circle():
    grimp = require_module("grimp", 'pip install -e ".[dev]"')
    graph = grimp.build_graph("sacrop_cli")
    adjacent = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for other in sorted(adjacent[module]):
            if state.get(other) == 1:
                circles.append(path[path.index(other) :] + [other])
            elif other not in state:
                visit(other, [*path, other])
        state[module] = 2

    for module in sorted(adjacent):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_layer_contract_is_kept():
    importlinter = require_module("importlinter.cli", 'pip install -e ".[dev]"')
    assert importlinter.lint_imports(config_filename=str(PACKAGE.parent / "pyproject.toml")) == 0
