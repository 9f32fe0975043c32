"""What running ``sacrop crop`` on Ray costs and gains on one machine, measured in one run.

    python benchmarks/ray_local.py [FOLDER] [--n 200] [--weights NAME|PATH|random]

Crops the first ``--n`` photos of FOLDER (default ``../shared/data/fcdb-train/images``) with
``-r 4:3 -r 1:1 -k 1`` (JPEGs written) as whole ``sacrop crop`` processes, start to exit: the
local run on one core and on two (its affinity set, as ``taskset`` does), and ``--ray local``
with ``--ray-workers 1`` and ``2``. Each is run on the ``--n`` photos and on one photo, so that
the table separates the fixed cost (start-up: Ray's start, the actors' model loads, its
shutdown) from the cost per photo: ``(time for n - time for 1) / (n - 1)``. Ray's overhead per
photo is its cost per photo minus the local run's with as many cores. Prints a Markdown table.

Run it alone on the machine: other work skews every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline import linked, sacrop_command, weights_path


def timed_crop(command: list, folder: Path, out: Path, cores: int | None) -> float:
    """Wall seconds of one ``sacrop crop`` process over ``folder``, pinned to ``cores``."""
    env = dict(os.environ)
    env.pop("SACROP_WEIGHTS", None)
    start = time.perf_counter()
    done = subprocess.run(
        [*command, folder, "-r", "4:3", "-r", "1:1", "-o", out, "-q"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
        preexec_fn=(lambda: os.sched_setaffinity(0, range(cores))) if cores else None,
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(
            f"{' '.join(map(str, command))} exited with {done.returncode}:\n{done.stderr}"
        )
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=Path("../shared/data/fcdb-train/images"),
        help="photos (default ../shared/data/fcdb-train/images)",
    )
    ap.add_argument("--n", type=int, default=200, help="photos per run (default 200)")
    ap.add_argument("--weights", default=None, help="NAME|PATH|random (default: what sacrop uses)")
    args = ap.parse_args()

    from sacrop_cli.io.inputs import scan_inputs

    photos = [p for p, _ in scan_inputs([args.folder]).images]
    if not photos:
        raise SystemExit(f"{args.folder}: no photos")
    if args.n < 2:
        raise SystemExit("--n: at least 2 photos, to tell the cost per photo from start-up")
    with tempfile.TemporaryDirectory(prefix="sacrop-ray-bench-") as tmp_name:
        tmp = Path(tmp_name)
        weights, weights_label = weights_path(args.weights, tmp)
        many, one = linked(photos, args.n, tmp / "many"), linked(photos, 1, tmp / "one")
        sacrop = [*sacrop_command(), "crop", "--weights", weights]
        ray = [*sacrop, "--ray", "local", "--ray-workers"]
        configs = [  # label, command, cores it is pinned to, cores it uses
            ("local, 1 core", sacrop, 1, 1),
            ("local, 2 cores (the default)", sacrop, None, 2),
            ("`--ray local --ray-workers 1`", [*ray, "1"], None, 1),
            ("`--ray local --ray-workers 2`", [*ray, "2"], None, 2),
        ]
        measured = {}
        for n, (label, command, pinned, _) in enumerate(configs):
            whole = timed_crop(command, many, tmp / f"out{n}", pinned)
            first = timed_crop(command, one, tmp / f"one{n}", pinned)
            measured[label] = (whole, first, (whole - first) / (args.n - 1) * 1000)

    local = {uses: measured[label][2] for label, command, _, uses in configs if command is sacrop}
    print(
        f"{args.n} photos of {args.folder}, `-r 4:3 -r 1:1 -k 1` (JPEGs written), weights "
        f"{weights_label}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}\n"
    )
    print("| run | photos/s | one photo, start to exit | per photo | Ray's overhead per photo |")
    print("|---|---:|---:|---:|---:|")
    for label, command, _, uses in configs:
        whole, first, per_photo = measured[label]
        overhead = "" if command is sacrop else f"{per_photo - local[uses]:.1f} ms"
        print(
            f"| {label} | {args.n / whole:.1f} | {first:.2f} s | {per_photo:.1f} ms | {overhead} |"
        )


if __name__ == "__main__":
    main()
