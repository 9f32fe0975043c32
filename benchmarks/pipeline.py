"""Speed and memory of ``sacrop crop`` on a folder of photos, measured in one run.

    python benchmarks/pipeline.py FOLDER [--n 100] [--threads N] [--weights NAME|PATH|random]

Prints a Markdown table:

- analysis only (what ``sacrop crop --dry-run --ratio any`` does) over the first ``--n``
  photos: ms per photo = the run's wall time / photos (photos are scored two at a time on the
  CPU, so this is what a folder costs), photos/s, and the latency of one photo (a scored batch's
  time, the reduced decodes it waited for included, / its photos: median and p90). In process,
  after a warm-up batch, so without start-up and model load; the same with ``--no-refine``
  (the cost of the local search around the top crop); then a whole
  ``sacrop crop --dry-run`` process over the same photos, start-up included;
- end to end (``--ratio 4:3 --ratio 1:1 --top-k 1``, JPEGs written) over the same photos,
  against the I/O floor measured in the same run: Pillow alone decoding each photo and encoding
  the same crops (the boxes of the end-to-end manifest) to JPEG files, one photo after another;
- peak memory (RSS) of ``sacrop crop`` processes (end-to-end settings) over the first 100 and
  1,000 photos (``--rss``); a folder with fewer photos is cycled through with links;
- ``sacrop --help`` start-up time and the first-image latency of a cold ``sacrop crop`` of one
  photo (new processes; medians of a few runs).

Without trained weights (``--weights`` unset and none installed) it times random weights: the
same network, so the same speed. ``--threads`` sets torch's threads here and OMP_NUM_THREADS in
the ``sacrop`` processes (default: torch's own, one per physical core).
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"analysis": 25.0, "ratio": 1.3, "rss_mb": 1536.0, "help": 0.3}


def linked(photos: list[Path], count: int, folder: Path) -> Path:
    """A folder of ``count`` links to ``photos``, cycling through them when there are fewer."""
    folder.mkdir(parents=True)
    for i in range(count):
        src = photos[i % len(photos)]
        (folder / f"{i:05d}-{src.name}").symlink_to(src.resolve())
    return folder


def random_checkpoint(folder: Path) -> Path:
    """A checkpoint of the full network with seeded random weights, as the tests make."""
    import torch

    from sacrop_cli.checkpoint import make_meta, save_checkpoint
    from sacrop_cli.network import CropScorer

    torch.manual_seed(0)
    model = CropScorer()
    return save_checkpoint(folder / "random.pt", model,
                           make_meta(model, training={"data": "none (random, benchmark)"}))


def weights_path(spec: str | None, folder: Path) -> tuple[Path, str]:
    from sacrop_cli.errors import SacropError
    from sacrop_cli.weights import resolve_weights

    if spec == "random":
        return random_checkpoint(folder), "random (same network)"
    try:
        path = resolve_weights(spec)
    except SacropError as err:
        if spec is not None:
            raise SystemExit(str(err)) from None
        print(f"note: {err}\nnote: timing random weights instead (same network, same speed)",
              file=sys.stderr)
        return random_checkpoint(folder), "random (same network)"
    return path, path.name


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))]


def sacrop_command() -> list[str]:
    """The installed ``sacrop`` script next to this Python (not a shell shim), else ``-m``."""
    script = Path(sys.executable).parent / "sacrop"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "sacrop_cli"]


def timed_runs(command: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def peak_rss(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one process, from its own rusage."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {proc.returncode}:\n{stderr}")
    return usage.ru_maxrss / 1024, seconds  # Linux: KiB


def io_floor(records: list[dict], out: Path) -> float:
    """Seconds Pillow alone takes to decode each photo (upright) and encode its crops (the
    same boxes, JPEG quality 95 as sacrop writes them) to files, one photo after another."""
    from PIL import Image, ImageOps

    out.mkdir()
    start = time.perf_counter()
    for n, record in enumerate(records):
        with Image.open(record["source"]) as im:
            photo = ImageOps.exif_transpose(im)
        if photo.mode not in ("RGB", "L"):
            photo = photo.convert("RGB")
        for crop in record["crops"]:
            photo.crop(tuple(crop["box"])).save(out / f"{n}.{crop['rank']}.{len(crop['ratio'])}.jpg",
                                                "JPEG", quality=95, subsampling=0)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, help="photos, e.g. ../shared/data/fcdb-train/images")
    ap.add_argument("--n", type=int, default=100, help="photos timed in process (default 100)")
    ap.add_argument("--rss", default="100,1000",
                    help="photo counts of the peak-memory runs (default 100,1000)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--weights", default=None, help="NAME|PATH|random (default: what sacrop uses)")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()

    env = dict(os.environ)
    env.pop("SACROP_WEIGHTS", None)
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    from sacrop_cli.api import Cropper
    from sacrop_cli.imageio import scan_inputs
    from sacrop_cli.pipeline import BatchReport, run_batch

    if args.threads:
        torch.set_num_threads(args.threads)
    photos = [p for p, _ in scan_inputs([args.folder]).images]
    if not photos:
        raise SystemExit(f"{args.folder}: no photos")
    sacrop = sacrop_command()
    rows: list[tuple[str, str, str]] = []

    with tempfile.TemporaryDirectory(prefix="sacrop-bench-") as tmp_name:
        tmp = Path(tmp_name)
        weights, weights_label = weights_path(args.weights, tmp)
        cropper = Cropper(weights, device="cpu")
        timed = linked(photos, args.n, tmp / "timed")

        def analyse(folder: Path) -> tuple[BatchReport, float]:
            """A `--dry-run --ratio any` run in process: its report and ms per photo."""
            report = run_batch(cropper, scan_inputs([folder]), ["any"], 1, tmp / "dry", dry_run=True,
                               batch_size=args.batch_size)
            return report, report.counts["seconds"] / report.counts["images"] * 1000

        # Analysis only, after a warm-up batch (first calls build oneDNN kernels).
        analyse(linked(photos, args.batch_size, tmp / "warm"))
        report, wall = analyse(timed)
        latency = [seconds / n * 1000 for n, seconds in report.batch_seconds for _ in range(n)]
        rows += [
            ("Analysis (`--dry-run --ratio any`), per photo (run time / photos)", f"{wall:.1f} ms",
             f"<= {TARGETS['analysis']:.0f} ms"),
            ("Analysis, throughput", f"{1000 / wall:.1f} photos/s", ""),
            ("Analysis, latency per photo (a batch's time / its photos), median / p90",
             f"{statistics.median(latency):.1f} / {percentile(latency, 0.9):.1f} ms", ""),
        ]
        cropper.refine = False  # what the local search around the top crop costs
        rows.append(("Analysis with `--no-refine`, per photo", f"{analyse(timed)[1]:.1f} ms", ""))
        cropper.refine = True

        # End to end, then the I/O floor of the very same crops.
        e2e = run_batch(cropper, scan_inputs([timed]), ["4:3", "1:1"], 1, tmp / "e2e",
                        format="jpeg", batch_size=args.batch_size)
        if e2e.counts["errors"]:
            raise SystemExit(f"end to end: {e2e.counts['errors']} photo(s) failed")
        floor = io_floor([r for r in e2e.records if r["status"] == "ok"], tmp / "floor")
        n = e2e.counts["images"]
        ratio = e2e.counts["seconds"] / floor
        rows += [
            ("End to end (`-r 4:3 -r 1:1 -k 1`, JPEGs written), per photo",
             f"{e2e.counts['seconds'] / n * 1000:.1f} ms", ""),
            ("I/O floor (Pillow: decode + encode the same crops), per photo",
             f"{floor / n * 1000:.1f} ms", ""),
            ("End to end / I/O floor", f"{ratio:.2f}x", f"<= {TARGETS['ratio']}x"),
        ]
        sizes = sorted(max(r["width"], r["height"]) for r in e2e.records if r["width"])
        shutil.rmtree(tmp / "e2e")
        shutil.rmtree(tmp / "floor")
        del cropper, report, e2e

        # Peak memory of whole `sacrop crop` processes.
        for count in (int(c) for c in args.rss.split(",") if c):
            folder = linked(photos, count, tmp / f"rss{count}")
            out = tmp / f"rss{count}-out"
            rss, seconds = peak_rss([*sacrop, "crop", str(folder), "-r", "4:3", "-r", "1:1",
                                     "-k", "1", "-o", str(out), "--weights", str(weights), "-q"],
                                    env)
            rows.append((f"Peak RSS, `sacrop crop` of {count:,} photos "
                         f"({seconds:.1f} s with start-up)", f"{rss:.0f} MB",
                         f"< {TARGETS['rss_mb'] / 1024:.1f} GB"))
            shutil.rmtree(out, ignore_errors=True)

        # A whole `sacrop crop --dry-run` process, start-up included, as a user would time it.
        (whole,) = timed_runs([*sacrop, "crop", str(timed), "--dry-run", "-o", str(tmp / "dry-cli"),
                               "--weights", str(weights), "-q"], env, 1)
        rows.append((f"`sacrop crop --dry-run` process over {args.n} photos, start-up included",
                     f"{whole:.2f} s ({whole / args.n * 1000:.1f} ms/photo)", ""))

        # Start-up and first-image latency of new processes.
        timed_runs([*sacrop, "--help"], env, 1)  # warm the file cache
        helps = timed_runs([*sacrop, "--help"], env, 5)
        versions = timed_runs([*sacrop, "--version"], env, 5)
        rows += [("`sacrop --help`", f"{statistics.median(helps):.3f} s",
                  f"< {TARGETS['help']} s"),
                 ("`sacrop --version`", f"{statistics.median(versions):.3f} s", "")]
        firsts = []
        for i in range(3):
            firsts += timed_runs([*sacrop, "crop", str(photos[0]), "-r", "4:3", "-r", "1:1",
                                  "-k", "1", "-o", str(tmp / f"first{i}"), "--weights",
                                  str(weights), "-q"], env, 1)
        rows.append(("First image: cold `sacrop crop` of one photo (process start to exit)",
                     f"{statistics.median(firsts):.2f} s", ""))

    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        models = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
    cpu = models[0] if models else cpu
    print(f"{n} photos from {args.folder} (long side median {statistics.median(sizes)} px), "
          f"batch {args.batch_size}, {torch.get_num_threads()} torch thread(s), "
          f"{os.cpu_count()} CPU(s) {cpu}, torch {torch.__version__}, weights {weights_label}\n")
    print("| Measure | Value | Target |\n|---|---:|---:|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")


if __name__ == "__main__":
    main()
