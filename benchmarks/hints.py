"""How well the crops honour a person's hints (``--keep``, ``--focus``, ``--avoid``).

    python benchmarks/hints.py PHOTO_FOLDER... [--weights NAME|PATH] [-k 3] [--limit N]

For every photo, the top-k crops of six ratios (any, 4:3, 3:4, 1:1, 16:9, 9:16) are chosen
with one hint at a time, given in percent so that one hint serves every photo:

- keep ``5%,10%,30%,45%`` (a region off the centre): a crop honours it when it holds the
  region whole; counted over the crops of the ratios whose windows can hold it (the smallest
  window of the ratio around the region fits in the photo);
- focus ``85%,80%`` and ``50%,50%``: a crop honours it when it holds the point in its middle
  two thirds (at least a sixth of its side from each edge), counted over the ratios where some
  candidate window can (every ratio can hold the point at all: that is counted too);
- avoid each 30% x 30% corner in turn: a crop honours it when it leaves the corner out.

Targets (issues 21 and 29): keep and focus 100% where a window can, avoid at least 90%. Each
line also counts the crops whose note says a hint could not be met.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sacrop_cli.api import Cropper
from sacrop_cli.candidates import candidates_for
from sacrop_cli.io.inputs import scan_inputs
from sacrop_cli.ratios import parse_ratio

RATIOS = ["any", "4:3", "3:4", "1:1", "16:9", "9:16"]
KEEP = (5, 10, 30, 45)
FOCI = ((85, 80), (50, 50))
CORNERS = {
    "top-left": (0, 0, 30, 30),
    "top-right": (70, 0, 100, 30),
    "bottom-left": (0, 70, 30, 100),
    "bottom-right": (70, 70, 100, 100),
}


def pct(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:g}%" for v in values)


def in_pixels(region: tuple[float, ...], width: int, height: int) -> list[float]:
    return [v * (width if i % 2 == 0 else height) / 100 for i, v in enumerate(region)]


def can_hold(ratio: str, region: list[float], width: int, height: int) -> bool:
    """Whether some window of ``ratio`` holds ``region`` whole in a ``width x height`` photo."""
    if ratio == "any":
        return True
    rw, rh = (int(v) for v in ratio.split(":"))
    w, h = region[2] - region[0], region[3] - region[1]
    side_w = max(w, h * rw / rh)
    return side_w <= width + 1 and side_w * rh / rw <= height + 1


def in_middle(box: tuple[int, ...], fx: float, fy: float) -> bool:
    """Whether the point lies at least a sixth of the box's side from each of its edges."""
    x1, y1, x2, y2 = box
    w, h = (x2 - x1) / 6, (y2 - y1) / 6
    eps = 1e-6
    return x1 + w <= fx + eps and fx <= x2 - w + eps and y1 + h <= fy + eps and fy <= y2 - h + eps


def can_centre(ratio: str, fx: float, fy: float, width: int, height: int) -> bool:
    """Whether some candidate window of ``ratio`` can hold the point in its middle two thirds."""
    boxes = candidates_for(parse_ratio(ratio), width, height)
    w, h = (boxes[:, 2] - boxes[:, 0]).astype(float), (boxes[:, 3] - boxes[:, 1]).astype(float)
    x_ok = np.maximum(0, np.ceil(fx - 5 * w / 6)) <= np.minimum(width - w, np.floor(fx - w / 6))
    y_ok = np.maximum(0, np.ceil(fy - 5 * h / 6)) <= np.minimum(height - h, np.floor(fy - h / 6))
    return bool((x_ok & y_ok).any())


def count_focus(cropper: Cropper, photo, k: int, rows: dict[str, list[int]]) -> None:
    """The focus rows of one photo: held in the middle two thirds (where a window can), held."""
    width, height = photo.full_size
    for point in FOCI:
        fx, fy = in_pixels(point, width, height)
        middle, held = rows[f"focus {pct(point)} middle"], rows[f"focus {pct(point)} held"]
        for crop in cropper.best_crops([photo], RATIOS, k, focus=pct(point))[0]:
            x1, y1, x2, y2 = crop.box
            if can_centre(crop.ratio, fx, fy, width, height):
                middle[0] += 1
                middle[1] += in_middle(crop.box, fx, fy)
            middle[2] += crop.note is not None
            held[0] += 1
            held[1] += x1 <= fx <= x2 and y1 <= fy <= y2
            held[2] += crop.note is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--weights", default=None)
    ap.add_argument("-k", "--top-k", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="at most this many photos")
    args = ap.parse_args()

    cropper = Cropper(args.weights, device="cpu")
    photos = [p for p, _ in scan_inputs(args.folders).images][: args.limit]
    foci = [f"focus {pct(p)} {how}" for p in FOCI for how in ("middle", "held")]
    rows = {name: [0, 0, 0] for name in ["keep", *foci, *(f"avoid {c}" for c in CORNERS)]}
    for path in photos:
        photo = cropper.load(path)
        width, height = photo.full_size
        keep = in_pixels(KEEP, width, height)
        found = cropper.best_crops([photo], RATIOS, args.top_k, keep=pct(KEEP))[0]
        for crop in found:
            if can_hold(crop.ratio, keep, width, height):
                x1, y1, x2, y2 = crop.box
                held = x1 <= keep[0] and y1 <= keep[1] and x2 >= keep[2] and y2 >= keep[3]
                rows["keep"][0] += 1
                rows["keep"][1] += held
            rows["keep"][2] += crop.note is not None
        count_focus(cropper, photo, args.top_k, rows)
        for corner, region in CORNERS.items():
            ax1, ay1, ax2, ay2 = in_pixels(region, width, height)
            row = rows[f"avoid {corner}"]
            for crop in cropper.best_crops([photo], RATIOS, args.top_k, avoid=pct(region))[0]:
                x1, y1, x2, y2 = crop.box
                row[0] += 1
                row[1] += x2 <= ax1 or x1 >= ax2 or y2 <= ay1 or y1 >= ay2
                row[2] += crop.note is not None
    print(f"{len(photos)} photos, top-{args.top_k} crops of {', '.join(RATIOS)}")
    print("| hint | crops counted | honoured | crops with a note |")
    print("|---|---|---|---|")
    for name, (count, honoured, notes) in rows.items():
        print(f"| {name} | {count} | {honoured} ({honoured / max(count, 1):.1%}) | {notes} |")


if __name__ == "__main__":
    main()
