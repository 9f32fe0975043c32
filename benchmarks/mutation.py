"""Mutation score of a set of core modules against their test files, with mutmut 3.

    python benchmarks/mutation.py [SET ...] [--max-children N] [--keep]

SET is ``core`` (boxes, ratios, hints, candidates, search: the geometry and the search),
``rules`` (constraints, run/naming, io/atomic) or ``all`` (both); default ``core``. Each set is
run in its own scratch folder ``.mutmut/<set>/`` (a copy of the package, the tests, the
examples and the shipped weights, with a ``[tool.mutmut]`` section naming the modules to mutate
and the test files to run), so the worktree itself never holds mutated code. Prints
per module the mutants killed, the score (killed / all, timeouts counted as killed) and every
survivor by name: ``mutmut show NAME`` in the scratch folder shows its diff. The mutants known to
be equivalent (no test can kill them) are listed in docs/testing.md; the score counts them as
survivors.

Slow and CPU heavy (mutmut forks pytest once per mutant): not part of CI, run it before a release
with ``nice -n 10``. Needs ``pip install mutmut`` (3.x).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRATCH = REPO / ".mutmut"

# each module (relative to the repository) with the test files meant to catch its mutants
SETS: dict[str, dict[str, list[str]]] = {
    "core": {
        "sacrop_cli/boxes.py": ["tests/test_boxes.py"],
        "sacrop_cli/ratios.py": ["tests/test_ratios.py"],
        "sacrop_cli/hints.py": ["tests/test_hints.py"],
        "sacrop_cli/candidates.py": ["tests/test_candidates.py"],
        "sacrop_cli/search.py": ["tests/test_search.py"],
    },
    "rules": {
        "sacrop_cli/constraints.py": ["tests/test_constraints.py"],
        "sacrop_cli/run/naming.py": ["tests/test_naming.py"],
        "sacrop_cli/io/atomic.py": ["tests/test_atomic.py"],
    },
}


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def prepare(name: str, modules: dict[str, list[str]]) -> Path:
    """A scratch folder holding a fresh copy of the code and tests and a mutmut config for
    ``modules``. mutmut's results of an earlier run are removed: it keeps a mutant's verdict
    while the mutated function is unchanged, even when the tests have changed."""
    folder = SCRATCH / name
    shutil.rmtree(folder / "mutants", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for sub in ("sacrop_cli", "tests", "examples", "weights"):  # some tests use the shipped weights
        shutil.rmtree(folder / sub, ignore_errors=True)
        shutil.copytree(REPO / sub, folder / sub, ignore=ignore)
    shutil.copy(REPO / "setup.cfg", folder / "setup.cfg")
    tests = sorted({t for files in modules.values() for t in files})
    config = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    config += (
        "\n[tool.mutmut]\n"
        'source_paths = ["sacrop_cli"]\n'
        'also_copy = ["examples", "weights"]\n'
        f"only_mutate = {toml_list(sorted(modules))}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(tests)}\n"
        # the fast set only: slow tests (networks, Ray) do not cover these modules
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
    )
    (folder / "pyproject.toml").write_text(config, encoding="utf-8")
    return folder


def results(folder: Path) -> dict[str, str]:
    """Every mutant's name and status, as ``mutmut results --all true`` prints them."""
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    status = {}
    for line in done.stdout.splitlines():
        mutant, sep, state = line.strip().rpartition(": ")
        if sep:
            status[mutant] = state
    return status


def module_of(mutant: str) -> str:
    """``sacrop_cli.boxes.x_box_iou__mutmut_3`` (or ``...hints.xǁHintsǁin_pixels__mutmut_1``)
    -> ``sacrop_cli.boxes``."""
    return re.split(r"\.x[_ǁ]", mutant, maxsplit=1)[0]


def report(name: str, status: dict[str, str]) -> int:
    """Print the score of each module and of the set; return the number of survivors."""
    killed_states = {"killed", "timeout"}
    by_module: dict[str, list[tuple[str, str]]] = {}
    for mutant, state in sorted(status.items()):
        by_module.setdefault(module_of(mutant), []).append((mutant, state))
    total = killed = 0
    print(f"\n## mutation score: {name}\n")
    print("| module | mutants | killed | score |")
    print("|---|---:|---:|---:|")
    for module, items in by_module.items():
        k = sum(state in killed_states for _, state in items)
        total, killed = total + len(items), killed + k
        print(f"| {module} | {len(items)} | {k} | {100 * k / len(items):.1f}% |")
    if total:
        print(f"| **{name}** | {total} | {killed} | {100 * killed / total:.1f}% |")
    survivors = [(m, s) for m, s in sorted(status.items()) if s not in killed_states]
    if survivors:
        print(f"\nsurvivors ({len(survivors)}):")
        for mutant, state in survivors:
            print(f"  {mutant}: {state}")
    return len(survivors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sets", nargs="*", default=["core"], choices=[*SETS, "all"])
    ap.add_argument("--max-children", type=int, default=2, help="mutmut workers (default 2)")
    ap.add_argument(
        "--keep", action="store_true", help="reuse the scratch copy and mutmut's results"
    )
    args = ap.parse_args()
    names = list(SETS) if "all" in args.sets else args.sets
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the scratch copy, not the worktree, must be imported
    env["CI"] = "true"  # the property tests' fixed examples: the same verdicts every run
    for name in names:
        folder = SCRATCH / name if args.keep else prepare(name, SETS[name])
        subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)],
            cwd=folder,
            env=env,
            check=True,
        )
        report(name, results(folder))


if __name__ == "__main__":
    main()
