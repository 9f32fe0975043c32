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


def _functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method of the package, named ``module:line name``."""
    return [
        (f"{p.relative_to(PACKAGE)}:{node.lineno} {node.name}", node)
        for p in MODULES
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def _is_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A click command: its parameters are its options, folded into objects in its body."""
    return any("command" in ast.unparse(d) for d in node.decorator_list)


def test_no_function_is_over_80_lines():
    long = {name: n for name, f in _functions() if (n := f.end_lineno - f.lineno + 1) > 80}
    assert long == {}


def test_no_function_but_a_command_takes_over_10_parameters():
    def count(f: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
        a = f.args
        names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        return len([n for n in names if n not in ("self", "cls")])

    many = {name: n for name, f in _functions() if not _is_command(f) and (n := count(f)) > 10}
    assert many == {}
