"""The size of a fresh virtual environment with ``pip install .`` (sacrop and its dependencies).

    python benchmarks/install.py [--extra train]

Creates the environment in a temporary folder, installs this checkout into it with pip (from the
package registry, as a user would), crops one example photo with it to show it works, and prints
the environment's size on disk and the install time. Needs the registry.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def size_on_disk(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                total += path.stat().st_blocks * 512
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--extra", default=None, help="an extra to install too, e.g. train")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sacrop-install-") as tmp_name:
        tmp = Path(tmp_name)
        env_dir = tmp / "venv"
        venv.create(env_dir, with_pip=True)
        empty = size_on_disk(env_dir)
        target = f"{REPO}[{args.extra}]" if args.extra else str(REPO)
        start = time.perf_counter()
        subprocess.run(
            [env_dir / "bin" / "python", "-m", "pip", "install", "-q", target], check=True
        )
        seconds = time.perf_counter() - start
        size = size_on_disk(env_dir)
        crop = subprocess.run(
            [
                env_dir / "bin" / "sacrop",
                "crop",
                REPO / "examples" / "coffee.jpg",
                "--dry-run",
                "--json",
                "-q",
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        if crop.returncode:
            raise SystemExit(f"the installed sacrop failed:\n{crop.stderr}")
        packages = subprocess.run(
            [env_dir / "bin" / "python", "-m", "pip", "list", "--format=freeze"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    print(
        f"pip install {'.[' + args.extra + ']' if args.extra else '.'} into a fresh venv (Python "
        f"{sys.version.split()[0]}): {size / 1e6:.0f} MB on disk "
        f"({(size - empty) / 1e6:.0f} MB over an "
        f"empty venv), {seconds:.0f} s; "
        f"torch installed: {any(p.startswith('torch==') for p in packages)}"
    )
    print("packages: " + ", ".join(packages))


if __name__ == "__main__":
    main()
