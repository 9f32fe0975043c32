"""What a rerun over a finished folder costs next to its first run, locally and on Ray.

    python benchmarks/rerun.py [FOLDER] [--n 300] [--weights NAME|PATH|random] [--ray]

Crops the first ``--n`` photos of FOLDER (default ``../shared/data/fcdb-train/images``) with
``-r 4:3 -r 1:1 -k 1`` as whole ``sacrop crop`` processes, start to exit, with a manifest: the
first run, then the same command again over the finished output (every photo done: none is
read), then once more with the manifest given under a new name (no previous records). With
``--ray`` the three runs use ``--ray local`` too. Prints a Markdown table.

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


def timed(command: list, folder: Path, out: Path, manifest: Path) -> tuple[float, str]:
    """Wall seconds of one ``sacrop crop`` process, and its summary (standard error)."""
    env = dict(os.environ)
    env.pop("SACROP_WEIGHTS", None)
    start = time.perf_counter()
    done = subprocess.run(
        [*command, folder, "-r", "4:3", "-r", "1:1", "-o", out, "--manifest", manifest],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stderr}")
    return seconds, done.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=Path("../shared/data/fcdb-train/images"),
        help="photos (default ../shared/data/fcdb-train/images)",
    )
    ap.add_argument("--n", type=int, default=300, help="photos (default 300)")
    ap.add_argument("--weights", default=None, help="NAME|PATH|random (default: what sacrop uses)")
    ap.add_argument("--ray", action="store_true", help="run with --ray local")
    args = ap.parse_args()

    from sacrop_cli.io.inputs import scan_inputs

    photos = [p for p, _ in scan_inputs([args.folder]).images]
    if not photos:
        raise SystemExit(f"{args.folder}: no photos")
    with tempfile.TemporaryDirectory(prefix="sacrop-rerun-bench-") as tmp_name:
        tmp = Path(tmp_name)
        weights, weights_label = weights_path(args.weights, tmp)
        folder = linked(photos, args.n, tmp / "photos")
        command = [*sacrop_command(), "crop", "--weights", weights]
        if args.ray:
            command += ["--ray", "local"]
        out, manifest = tmp / "out", tmp / "manifest.jsonl"
        rows = [
            ("first run", *timed(command, folder, out, manifest)),
            ("rerun, previous manifest", *timed(command, folder, out, manifest)),
            ("rerun, no previous manifest", *timed(command, folder, out, tmp / "new.jsonl")),
        ]

    where = "`--ray local`" if args.ray else "local"
    print(
        f"{args.n} photos of {args.folder}, `-r 4:3 -r 1:1 -k 1`, {where}, weights "
        f"{weights_label}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {sys.version.split()[0]}\n"
    )
    print("| run | start to exit | photos/s | photos already done (not read) |")
    print("|---|---:|---:|---:|")
    for label, seconds, summary in rows:
        done = next(
            (line.split()[-1] for line in summary.splitlines() if "already done" in line), "0"
        )
        print(f"| {label} | {seconds:.2f} s | {args.n / seconds:.1f} | {done} |")


if __name__ == "__main__":
    main()
