"""Speed and memory of ``sacrop crop`` on a folder of photos, measured in one run.

    python benchmarks/pipeline.py FOLDER [--n 100] [--weights NAME|PATH|random]

Prints a Markdown table:

- analysis only (what ``sacrop crop --dry-run --ratio any`` does) over the first ``--n``
  photos, in process after a warm-up batch (so without start-up and model load): ms per photo =
  the run's wall time / photos (what a folder costs), photos/s, and the latency of one photo
  (a scored batch's time / its photos: median and p90). Side by side in the same run: the ONNX
  engine as ``sacrop crop`` runs it (one photo per core, one thread each), the same with the
  int8 graph (``--precision int8``, when the weights have one), the ONNX engine with
  one worker on all cores, the ONNX engine with ``--no-refine``, the torch engine as
  ``--engine torch`` runs it (when torch is installed), and libvips' attention crop of the same
  photos (``pyvips.Image.new_from_file(p).smartcrop(w, h, interesting="attention")``, forced
  with ``.avg()``, libvips using every core as it does by default; needs ``pip install pyvips
  pyvips-binary``); then a whole ``sacrop crop --dry-run`` process, start-up included;
- end to end (``--ratio 4:3 --ratio 1:1 --top-k 1``, JPEGs written) over the same photos, or
  with ``--enlarge 4000`` over camera-size copies of them (enlarged to 4,000 px on the long side,
  about 12 MP, JPEG with camera EXIF), against the decode-crop-encode floor measured in the same
  run: Pillow alone decoding each photo and encoding the same crops (the boxes of the end-to-end
  manifest, JPEG quality 95 as sacrop writes them) to files, on one thread per core;
- peak memory (RSS) of ``sacrop crop`` processes (end-to-end settings, the enlarged photos with
  ``--enlarge``) over one photo and the first 100 and 1,000 photos (``--rss``); a folder with
  fewer photos is cycled through with links;
- ``sacrop --help`` start-up time and a cold ``sacrop crop`` of one photo, process start to exit
  (new processes; medians of a few runs). The table's header names the machine's core count.

``--targets`` keeps only the rows that have a target (analysis as ``sacrop crop`` runs it
against libvips attention, end to end against the floor, peak RSS, the cold one-photo run):
the issue's figures side by side, in a fraction of the time.

``--peak-rss`` is the memory run alone: ``--n`` photos (default 1,000) of ``--enlarge`` px
(default 4000: 12 MP), copied on the fly from camera-size copies of the folder's first 48
photos into a temporary folder, cropped by one ``sacrop crop -r 4:3 -r 1:1 -k 1`` process whose
peak RSS is reported, then removed (copies and crops). Roughly 5 minutes for 1,000 photos on 2
cores (most of it the crop run), and about 8 GB free in the temporary folder while it runs.

Without trained weights (``--weights`` unset and none installed) it times random weights: the
same network, so the same speed (needs torch, to make and export them).
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


def linked(photos: list[Path], count: int, folder: Path) -> Path:
    """A folder of ``count`` links to ``photos``, cycling through them when there are fewer."""
    folder.mkdir(parents=True)
    for i in range(count):
        src = photos[i % len(photos)]
        (folder / f"{i:05d}-{src.name}").symlink_to(src.resolve())
    return folder


def random_checkpoint(folder: Path) -> Path:
    """A checkpoint of the full network with seeded random weights and its graph, as the tests
    make them."""
    import torch

    from sacrop_cli.model.checkpoint import make_meta, save_checkpoint
    from sacrop_cli.model.export import export_onnx
    from sacrop_cli.model.network import CropScorer

    torch.manual_seed(0)
    model = CropScorer()
    path = save_checkpoint(
        folder / "random.pt", model, make_meta(model, training={"data": "none (random, benchmark)"})
    )
    export_onnx(path)
    return path


def weights_path(spec: str | None, folder: Path) -> tuple[Path, str]:
    """The checkpoint to time (its graph beside it) and how to name it in the table."""
    from sacrop_cli.errors import SacropError
    from sacrop_cli.model.registry import resolve_weights

    if spec == "random":
        return random_checkpoint(folder), "random (same network)"
    try:
        path = resolve_weights(spec, kind="torch")
        resolve_weights(spec, kind="onnx")
    except SacropError as err:
        if spec is not None:
            raise SystemExit(str(err)) from None
        print(
            f"note: {err}\nnote: timing random weights instead (same network, same speed)",
            file=sys.stderr,
        )
        return random_checkpoint(folder), "random (same network)"
    return path, path.stem


def torch_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def libvips_attention(photos: list[Path]) -> float | None:
    """ms per photo of libvips' attention crop (80% of each side), or None without pyvips."""
    try:
        import pyvips
    except (ImportError, OSError):
        return None

    def attend(path: Path) -> None:
        image = pyvips.Image.new_from_file(str(path))
        image.smartcrop(
            int(image.width * 0.8), int(image.height * 0.8), interesting="attention"
        ).avg()

    for path in photos[:8]:  # warm-up, as for sacrop
        attend(path)
    start = time.perf_counter()
    for path in photos:
        attend(path)
    return (time.perf_counter() - start) / len(photos) * 1000


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
        subprocess.run(
            command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        times.append(time.perf_counter() - start)
    return times


# Runs the command as its child and reports the child's peak RSS: Linux keeps a process's peak
# across exec, so a child forked straight from this (large) process would report this one's.
_LAUNCHER = """import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(f"{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def peak_rss(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one process, from its own rusage."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, report.name, *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        seconds = time.perf_counter() - start
        kib, code = (int(v) for v in report.read().split())
    if done.returncode or code:
        raise SystemExit(f"{' '.join(command)} exited with {code}:\n{done.stderr}")
    return kib / 1024, seconds  # Linux: KiB


def io_floor(records: list[dict], out: Path, threads: int) -> float:
    """Seconds Pillow alone takes to decode each photo (upright) and encode its crops (the
    same boxes, JPEG quality 95 as sacrop writes them) to files, on ``threads`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image, ImageOps

    def one(n: int, record: dict) -> None:
        with Image.open(record["source"]) as photo:
            ImageOps.exif_transpose(photo, in_place=True)
            if photo.mode not in ("RGB", "L"):
                photo = photo.convert("RGB")
            for crop in record["crops"]:
                photo.crop(tuple(crop["box"])).save(
                    out / f"{n}.{crop['rank']}.{len(crop['ratio'])}.jpg",
                    "JPEG",
                    quality=95,
                    subsampling=0,
                )

    out.mkdir()
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(len(records)), records))
    return time.perf_counter() - start


def enlarged(photos: list[Path], side: int, folder: Path) -> Path:
    """Camera-size copies of ``photos``: upright, enlarged to ``side`` px on the long side,
    saved as JPEG (quality 92) with a camera's EXIF (make, model, date, orientation 1)."""
    import piexif
    from PIL import Image, ImageOps

    folder.mkdir(parents=True)
    exif = piexif.dump(
        {
            "0th": {
                piexif.ImageIFD.Make: b"Canon",
                piexif.ImageIFD.Model: b"Canon EOS 80D",
                piexif.ImageIFD.Orientation: 1,
                piexif.ImageIFD.DateTime: b"2021:06:13 17:45:02",
            },
            "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2021:06:13 17:45:02"},
        }
    )
    for path in photos:
        with Image.open(path) as im:
            photo = ImageOps.exif_transpose(im).convert("RGB")
        scale = side / max(photo.size)
        size = (round(photo.width * scale), round(photo.height * scale))
        photo.resize(size, Image.Resampling.LANCZOS).save(
            folder / f"{path.stem}.jpg", quality=92, exif=exif
        )
    return folder


CROP_4_3_1_1 = ["-r", "4:3", "-r", "1:1", "-k", "1"]


def crop_process_rss(sacrop: list[str], folder: Path, out: Path, graph: Path, env: dict) -> tuple:
    """(peak RSS in MB, wall seconds) of ``sacrop crop FOLDER -r 4:3 -r 1:1 -k 1``."""
    command = [*sacrop, "crop", str(folder), *CROP_4_3_1_1, "-o", str(out)]
    return peak_rss([*command, "--weights", str(graph), "-q"], env)


def peak_rss_only(args: argparse.Namespace, photos: list[Path], graph: Path, tmp: Path) -> list:
    """The ``--peak-rss`` run: ``--n`` camera-size photos copied on the fly, one crop process."""
    from sacrop_cli.engines.base import cpu_cores

    side, count = args.enlarge or 4000, args.n or 1000
    start = time.perf_counter()
    sources = sorted(enlarged(photos[: min(48, count)], side, tmp / "sources").iterdir())
    folder = tmp / "many"
    folder.mkdir()
    for i in range(count):  # distinct files, as a real folder of photos is
        shutil.copyfile(sources[i % len(sources)], folder / f"{i:05d}-{sources[i % len(sources)].name}")
    made = time.perf_counter() - start
    env = {k: v for k, v in os.environ.items() if k != "SACROP_WEIGHTS"}
    rss, seconds = crop_process_rss(sacrop_command(), folder, tmp / "many-out", graph, env)
    crops = sum(1 for _ in (tmp / "many-out").iterdir())
    shutil.rmtree(folder)
    shutil.rmtree(tmp / "many-out")
    return [
        (f"Copies made ({count:,} photos of {side} px from {len(sources)} sources)", f"{made:.0f} s", ""),
        (
            f"Peak RSS, `sacrop crop` of {count:,} {side}-px photos, {crops:,} crops written, "
            f"{cpu_cores()} core(s) ({seconds:.0f} s with start-up)",
            f"{rss:.0f} MB",
            "<= 1 GB" if count >= 1000 else "",
        ),
    ]


def analysis_part(args, tmp, graph, weights, timed, warm, rows) -> tuple:
    """The analysis rows; returns the default ONNX cropper and its ms per photo."""
    from sacrop_cli.api import Cropper
    from sacrop_cli.engines.base import cpu_cores
    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.model.registry import sibling
    from sacrop_cli.run.job import CropJob
    from sacrop_cli.run.local import run_batch

    def analyse(cropper: Cropper, folder: Path = timed) -> tuple:
        """A `--dry-run --ratio any` run in process: its report and ms per photo."""
        job = CropJob(("any",), 1, tmp / "dry", dry_run=True, batch_size=args.batch_size)
        report = run_batch(cropper, scan_inputs([folder]), job)
        return report, report.counts["seconds"] / report.counts["images"] * 1000

    def analysis_rows(label: str, cropper: Cropper) -> float:
        analyse(cropper, warm)  # warm-up: first calls build kernels and arenas
        report, wall = analyse(cropper)
        latency = [seconds / n * 1000 for n, seconds in report.batch_seconds for _ in range(n)]
        with cropper.engine.workers() as workers:
            pass
        rows.append(
            (
                f"Analysis (`--dry-run --ratio any`), {label}, {workers} worker(s) x "
                f"{cropper.engine.threads} thread(s) on {cpu_cores()} core(s): per photo; "
                "latency median / p90",
                f"{wall:.1f} ms; {statistics.median(latency):.1f} / "
                f"{percentile(latency, 0.9):.1f} ms",
                "",
            )
        )
        return wall

    onnx_cropper = Cropper(graph, device="cpu", engine="onnx")
    onnx_ms = analysis_rows("onnx (default: faces found)", onnx_cropper)
    vips_ms = libvips_attention([timed / p.name for p in sorted(timed.iterdir())])
    if vips_ms is None:
        rows.append(("libvips attention", "not measured: pip install pyvips pyvips-binary", ""))
    else:
        rows += [
            (
                "libvips attention (`smartcrop(..., interesting='attention').avg()`, libvips' "
                f"default threads), per photo",
                f"{vips_ms:.1f} ms",
                "",
            ),
            ("Analysis, onnx / libvips attention (time per photo)", f"{onnx_ms / vips_ms:.2f}x", "<= 0.6x"),
        ]
    if args.targets:
        return onnx_cropper, onnx_ms
    if sibling(graph, "int8").is_file():
        int8_ms = analysis_rows(
            "onnx int8 (`--precision int8`)",
            Cropper(graph, device="cpu", engine="onnx", precision="int8"),
        )
        rows.append(("Analysis, int8 / fp32 (time per photo)", f"{int8_ms / onnx_ms:.2f}x", ""))
    scorer_ms = analysis_rows(
        "onnx, `--no-faces`", Cropper(graph, device="cpu", engine="onnx", faces=False)
    )
    rows.append(
        (
            "Faces: time added to the scorer's own (default / `--no-faces` - 1)",
            f"{onnx_ms / scorer_ms - 1:.0%} ({onnx_ms - scorer_ms:.1f} ms)",
            "<= 25%",
        )
    )
    analysis_rows(
        "onnx, one worker on every core",
        Cropper(graph, device="cpu", engine="onnx", threads=cpu_cores()),
    )
    onnx_cropper.refine = False  # what the local search around the top crops costs
    rows.append(
        ("Analysis, onnx with `--no-refine`, per photo", f"{analyse(onnx_cropper)[1]:.1f} ms", "")
    )
    onnx_cropper.refine = True
    if torch_installed():
        torch_ms = analysis_rows(
            "torch (`--engine torch`)", Cropper(weights, device="cpu", engine="torch")
        )
        rows.append(("Throughput, onnx / torch", f"{torch_ms / onnx_ms:.2f}x", ">= 1.8x"))
    return onnx_cropper, onnx_ms


def end_to_end_part(args, tmp, cropper, timed, rows) -> tuple:
    """End to end against the decode-crop-encode floor; returns the photos' folder (enlarged
    with ``--enlarge``), their long sides and their count."""
    from sacrop_cli.engines.base import cpu_cores
    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.run.job import CropJob
    from sacrop_cli.run.local import run_batch

    job = CropJob(("4:3", "1:1"), 1, tmp / "e2e", format="jpeg", batch_size=args.batch_size)
    big = (
        enlarged([timed / p.name for p in sorted(timed.iterdir())], args.enlarge, tmp / "big")
        if args.enlarge
        else timed
    )
    e2e = run_batch(cropper, scan_inputs([big]), job)
    if e2e.counts["errors"]:
        raise SystemExit(f"end to end: {e2e.counts['errors']} photo(s) failed")
    ok = [r for r in e2e.records if r["status"] == "ok"]
    size_note = f", {args.enlarge} px photos" if args.enlarge else ""
    floor = io_floor(ok, tmp / "floor", cpu_cores())
    n = e2e.counts["images"]
    rows += [
        (
            f"End to end (`-r 4:3 -r 1:1 -k 1`, JPEGs written{size_note}), per photo",
            f"{e2e.counts['seconds'] / n * 1000:.1f} ms",
            "",
        ),
        (
            f"Floor (Pillow on {cpu_cores()} thread(s) = core(s): decode + encode the same "
            "crops), per photo",
            f"{floor / n * 1000:.1f} ms",
            "",
        ),
        ("End to end / floor", f"{e2e.counts['seconds'] / floor:.2f}x", "<= 1.25x"),
    ]
    sizes = sorted(max(r["width"], r["height"]) for r in e2e.records if r["width"])
    shutil.rmtree(tmp / "e2e")
    shutil.rmtree(tmp / "floor")
    return big, sizes, n


def processes_part(args, tmp, graph, photos, big, rows) -> None:
    """Peak memory of whole processes, a dry-run process, start-up and a cold one-photo run."""
    env = dict(os.environ)
    env.pop("SACROP_WEIGHTS", None)
    sacrop = sacrop_command()
    for count in (int(c) for c in args.rss.split(",") if c):
        sources = sorted(big.iterdir()) if args.enlarge else photos
        folder = linked(sources, count, tmp / f"rss{count}")
        out = tmp / f"rss{count}-out"
        rss, seconds = crop_process_rss(sacrop, folder, out, graph, env)
        rows.append(
            (
                f"Peak RSS, `sacrop crop` of {count:,} photo(s) "
                f"({seconds:.1f} s with start-up)",
                f"{rss:.0f} MB",
                "<= 300 MB" if count == 1 else "<= 1 GB" if count >= 1000 else "",
            )
        )
        shutil.rmtree(out, ignore_errors=True)
    if not args.targets:
        dry = [*sacrop, "crop", str(tmp / "timed"), "--dry-run", "-o", str(tmp / "dry-cli")]
        (whole,) = timed_runs([*dry, "--weights", str(graph), "-q"], env, 1)
        rows.append(
            (
                f"`sacrop crop --dry-run` process over {args.n} photos, start-up included",
                f"{whole:.2f} s ({whole / args.n * 1000:.1f} ms/photo)",
                "",
            )
        )
        timed_runs([*sacrop, "--help"], env, 1)  # warm the file cache
        helps = timed_runs([*sacrop, "--help"], env, 5)
        rows.append(("`sacrop --help`", f"{statistics.median(helps):.3f} s", "< 0.3 s"))
    firsts = []
    for i in range(5):
        firsts += timed_runs(
            [*sacrop, "crop", str(photos[0]), "-o", str(tmp / f"first{i}"), "-q"], env, 1
        )
    rows.append(
        (
            "Cold `sacrop crop one.jpg` (shipped weights, process start to exit), median of 5",
            f"{statistics.median(firsts):.2f} s",
            "<= 0.4 s",
        )
    )


def machine() -> str:
    """The core count and the CPU's name."""
    from sacrop_cli.engines.base import cpu_cores

    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        models = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
    return f"{cpu_cores()} core(s) {models[0] if models else cpu}"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("folder", type=Path, help="photos, e.g. ../shared/data/fcdb-train/images")
    ap.add_argument(
        "--n", type=int, default=None, help="photos timed in process (default 100; --peak-rss: 1,000)"
    )
    ap.add_argument(
        "--rss",
        default="1,100,1000",
        help="photo counts of the peak-memory runs, links to the timed photos (default 1,100,1000)",
    )
    ap.add_argument("--weights", default=None, help="NAME|PATH|random (default: what sacrop uses)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument(
        "--enlarge",
        type=int,
        default=0,
        metavar="PX",
        help="end to end and peak memory on copies enlarged to PX on the long side (4000: 12 MP)",
    )
    ap.add_argument("--targets", action="store_true", help="only the rows that have a target")
    ap.add_argument(
        "--peak-rss",
        action="store_true",
        help="only the memory run over --n (default 1,000) copies of --enlarge (default 4000) px",
    )
    args = ap.parse_args()
    from sacrop_cli.io.inputs import scan_inputs

    photos = [p for p, _ in scan_inputs([args.folder]).images]
    if not photos:
        raise SystemExit(f"{args.folder}: no photos")
    with tempfile.TemporaryDirectory(prefix="sacrop-bench-") as tmp_name:
        tmp = Path(tmp_name)
        weights, weights_label = weights_path(args.weights, tmp)
        graph = weights.with_suffix(".onnx")
        if args.peak_rss:
            rows = peak_rss_only(args, photos, graph, tmp)
            header = f"{args.folder}, {machine()}, weights {weights_label}\n"
        else:
            args.n = args.n or 100
            timed = linked(photos, args.n, tmp / "timed")
            warm = linked(photos, args.batch_size, tmp / "warm")
            rows = []
            cropper, _ = analysis_part(args, tmp, graph, weights, timed, warm, rows)
            big, sizes, n = end_to_end_part(args, tmp, cropper, timed, rows)
            del cropper
            processes_part(args, tmp, graph, photos, big, rows)
            import onnxruntime

            header = (
                f"{n} photos from {args.folder} (long side median {statistics.median(sizes)} px), "
                f"batch {args.batch_size}, {machine()}, onnxruntime {onnxruntime.__version__}, "
                f"weights {weights_label}\n"
            )
    print(header)
    print("| Measure | Value | Target |\n|---|---:|---:|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")


if __name__ == "__main__":
    main()
