"""Do a RAW photo and the JPEG it was made from get the same crop, and how much longer does the
RAW take to analyse?

    python benchmarks/raw.py JPEG_FOLDER [--limit N] [--ratio 4:3 ...] [--no-preview]
        [--weights NAME|PATH] [--repeat 3]

Each JPEG is made into a DNG (``make_dng`` of tests/helpers.py: a Bayer mosaic whose develop
gives the photo back, with the photo embedded as the camera's preview unless ``--no-preview``,
so the analysis takes the half-size develop). Reported: the mean IoU of the two rank-1 crops per
ratio (the issue's target: at least 0.8) and the share of photos at 0.8 or more; the analysis
time per photo (``imageio.open_for_analysis``: what the network waits for) of the RAW and of the
JPEG, best of ``--repeat`` runs, and their quotient (the issue's target: at most 2 for a 24-MP
RAW with a preview). Needs pidng (the ``dev`` extra). The DNGs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from sacrop_cli.api import Cropper
from sacrop_cli.boxes import box_iou
from sacrop_cli.io.imageio import open_for_analysis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import make_dng  # noqa: E402 - the tests' DNG maker

EXTENSIONS = {".jpg", ".jpeg"}


def analysis_seconds(path: Path, short_side: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        open_for_analysis(path, short_side)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--ratio", action="append", default=None)
    parser.add_argument("--no-preview", action="store_true")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ratios = args.ratio or ["any", "4:3", "1:1"]
    jpegs = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in EXTENSIONS)
    jpegs = jpegs[: args.limit] if args.limit else jpegs
    cropper = Cropper(args.weights)
    short_side = cropper.input_spec["short_side"]
    ious: dict[str, list[float]] = {r: [] for r in ratios}
    times: dict[str, list[float]] = {"raw": [], "jpeg": []}
    with tempfile.TemporaryDirectory(prefix="sacrop-raw-") as tmp:
        for jpeg in jpegs:
            with Image.open(jpeg) as im:
                upright = im.convert("RGB")  # the JPEG shown upright: the RAW stores it so
            dng = make_dng(Path(tmp) / f"{jpeg.stem}.dng", upright, preview=not args.no_preview)
            for ratio, raw_crop, jpeg_crop in zip(
                ratios, cropper.crop(dng, ratios), cropper.crop(jpeg, ratios)
            ):
                ious[ratio].append(box_iou(raw_crop.box, jpeg_crop.box))
            times["raw"].append(analysis_seconds(dng, short_side, args.repeat))
            times["jpeg"].append(analysis_seconds(jpeg, short_side, args.repeat))
            dng.unlink()
    source = "half-size develop" if args.no_preview else "embedded preview"
    print(f"{len(jpegs)} photos, the RAWs analysed from their {source}")
    for ratio, values in ious.items():
        share = sum(v >= 0.8 for v in values) / len(values)
        print(f"  {ratio:>5}: mean IoU {statistics.mean(values):.3f}, {share:.0%} at 0.8 or more")
    raw, jpeg = statistics.mean(times["raw"]), statistics.mean(times["jpeg"])
    print(f"  analysis per photo: RAW {raw * 1000:.1f} ms, JPEG {jpeg * 1000:.1f} ms, "
          f"RAW / JPEG {raw / jpeg:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
