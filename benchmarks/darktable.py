"""Does darktable export sacrop's crop from sacrop's sidecar?

    python benchmarks/darktable.py PHOTO... [--ratio 4:3 --ratio 3:4] [--weights NAME|PATH]

Each photo is stored as a JPEG with every EXIF orientation (1 to 8, its pixels turned so that
it shows upright) and as a DNG stored with orientation 6 (``make_dng`` of tests/helpers.py),
in a temporary folder; ``sacrop crop FOLDER -r RATIO -o FOLDER --xmp`` writes the crops and the
sidecars beside them; ``darktable-cli PHOTO OUT.jpg --core`` (a fresh configuration each time)
develops each with its sidecar. A case is exact when the export has the crop's width and height
within 1% and the same picture: a :func:`difference` of at most 0.3 to sacrop's crop file
(darktable's own develop of a DNG: up to 0.14 on examples/), and less than its difference to
that crop mirrored or turned half a turn (a sunset is nearly its own mirror: no margin asked).
Needs darktable-cli and pidng (the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import STORE, exif_bytes, make_dng  # noqa: E402 - the tests' photo makers


def difference(a: Image.Image, b: Image.Image) -> float:
    """How far two pictures' patterns differ: the mean absolute difference of their grey
    levels, both 64 x 64 and scaled to mean 0 and deviation 1 (a develop's own tones and
    brightness aside)."""

    def pattern(im: Image.Image) -> np.ndarray:
        grey = np.asarray(im.convert("L").resize((64, 64), Image.Resampling.BOX), np.float64)
        return (grey - grey.mean()) / max(grey.std(), 1e-9)

    return float(np.abs(pattern(a) - pattern(b)).mean())


def export(photo: Path, folder: Path) -> Image.Image | None:
    out = folder / f"dt-{photo.name}.jpg"
    cmd = ["darktable-cli", str(photo), str(out), "--core", "--configdir", str(folder / "dt")]
    subprocess.run(cmd, capture_output=True, timeout=600)
    if not out.exists():
        return None
    with Image.open(out) as im:
        return im.convert("RGB")


def exact(record: dict, exported: Image.Image | None) -> bool:
    crop = record["crops"][0]
    x1, y1, x2, y2 = crop["box"]
    if exported is None:
        return False
    if abs(exported.width - (x2 - x1)) > 0.01 * (x2 - x1):
        return False
    if abs(exported.height - (y2 - y1)) > 0.01 * (y2 - y1):
        return False
    with Image.open(crop["path"]) as im:
        ours = im.convert("RGB")
    same = difference(exported, ours)
    mirrored, turned = ImageOps.mirror(ours), ours.rotate(180)
    turned = min(difference(exported, mirrored), difference(exported, turned))
    return same <= 0.3 and same < turned


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photos", type=Path, nargs="+")
    ap.add_argument("-r", "--ratio", action="append", default=None)
    ap.add_argument("--weights", default=None)
    args = ap.parse_args()
    ratios = args.ratio or ["4:3", "3:4"]
    done = total = 0
    for photo in args.photos:
        with Image.open(photo) as im:
            upright = ImageOps.exif_transpose(im).convert("RGB")
        for ratio in ratios:
            with tempfile.TemporaryDirectory(prefix="sacrop-dt-") as tmp:
                folder, work = Path(tmp) / "shoot", Path(tmp) / "work"
                folder.mkdir()
                work.mkdir()
                for o in range(1, 9):
                    stored = upright.transpose(STORE[o]) if o in STORE else upright
                    stored.save(folder / f"o{o}.jpg", quality=95, exif=exif_bytes(o))
                even = upright.crop((0, 0, upright.width // 2 * 2, upright.height // 2 * 2))
                make_dng(folder / "raw6.dng", even, orientation=6)
                manifest = Path(tmp) / "m.jsonl"
                cmd = ["sacrop", "crop", str(folder), "-r", ratio, "-o", str(folder), "--xmp"]
                cmd += ["--manifest", str(manifest), "-q"]
                cmd += ["--weights", args.weights] if args.weights else []
                subprocess.run(cmd, check=True)
                for line in manifest.read_text().splitlines():
                    record = json.loads(line)
                    ok = exact(record, export(Path(record["source"]), work))
                    done, total = done + ok, total + 1
                    print(f"{photo.name} {ratio} {Path(record['source']).name}: "
                          f"{'exact' if ok else 'NOT exact'}")
    print(f"darktable exports sacrop's crop exactly: {done} of {total}")


if __name__ == "__main__":
    main()
