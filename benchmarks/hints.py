"""How well the crops honour a person's hints (``--keep``, ``--focus``, ``--avoid``).

    python benchmarks/hints.py PHOTO_FOLDER... [--weights NAME|PATH] [-k 3] [--limit N]

For every photo, the top-k crops of six ratios (any, 4:3, 3:4, 1:1, 16:9, 9:16) are chosen
with one hint at a time, given in percent so that one hint serves every photo:

- keep ``5%,10%,30%,45%`` (a region off the centre): a crop honours it when it holds the
  region whole; counted over the crops of the ratios whose windows can hold it (the smallest
  window of the ratio around the region fits in the photo);
- focus ``85%,80%``: a crop honours it when it holds the point (every ratio can);
- avoid each 30% x 30% corner in turn: a crop honours it when it leaves the corner out.

Targets (issue 21): keep and focus 100% where a window can, avoid at least 90%. Each line also
counts the crops whose note says a hint could not be met.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sacrop_cli.api import Cropper
from sacrop_cli.io.inputs import scan_inputs

RATIOS = ["any", "4:3", "3:4", "1:1", "16:9", "9:16"]
KEEP = (5, 10, 30, 45)
FOCUS = (85, 80)
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--weights", default=None)
    ap.add_argument("-k", "--top-k", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="at most this many photos")
    args = ap.parse_args()

    cropper = Cropper(args.weights, device="cpu")
    photos = [p for p, _ in scan_inputs(args.folders).images][: args.limit]
    rows = {name: [0, 0, 0] for name in ["keep", "focus", *(f"avoid {c}" for c in CORNERS)]}
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
        fx, fy = in_pixels(FOCUS, width, height)
        for crop in cropper.best_crops([photo], RATIOS, args.top_k, focus=pct(FOCUS))[0]:
            x1, y1, x2, y2 = crop.box
            rows["focus"][0] += 1
            rows["focus"][1] += x1 <= fx <= x2 and y1 <= fy <= y2
            rows["focus"][2] += crop.note is not None
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
