"""Candidate crops: the GAIC grid anchors, fixed-ratio windows and their neighbours.

The network only ranks; it never regresses coordinates, so every box sacrop can return comes
from here: a grid or window box, or one reached from it by :func:`neighbours` steps. All boxes
are ``(x1, y1, x2, y2)`` integer pixels of the upright image with exclusive ends
(width = x2 - x1), as ``int64`` arrays of shape ``[N, 4]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sacrop_cli.boxes import box_iou_matrix
from sacrop_cli.ratios import Ratio

GRID_BINS = 12
#: Alternatives (ranks 2 and below) overlap every better rank by at most this IoU, so that each
#: is a visibly different framing rather than the best one moved by a few pixels.
ALTERNATIVE_IOU = 0.6
#: One refinement step moves an edge by this fraction of the photo's side: a third of a grid bin.
REFINE_STEP = 1 / 36
#: Free-ratio boxes keep GAIC's aspect bounds (width / height), as the grid does.
ASPECT_BOUNDS = (0.5, 2.0)


def gaic_grid(
    width: int, height: int, *, bins: int = GRID_BINS, free_ratio: bool = True
) -> np.ndarray:
    """The GAIC grid anchors of a ``width x height`` image.

    Corners sit at bin centres: top-left in bins 0-3, bottom-right in bins 8-11 of each axis;
    a box is kept when it covers at least half of the image and, for the free-ratio set,
    0.5 < w/h < 2 in pixels. Coordinates are rounded to whole pixels.
    """
    sw, sh = width / bins, height / bins
    starts, ends = range(0, 4), range(bins - 4, bins)
    boxes = []
    for x1 in starts:
        for y1 in starts:
            for x2 in ends:
                for y2 in ends:
                    if (x2 - x1) * (y2 - y1) < 0.5 * bins * bins:
                        continue
                    aspect = (x2 - x1) * sw / ((y2 - y1) * sh)
                    if free_ratio and not ASPECT_BOUNDS[0] < aspect < ASPECT_BOUNDS[1]:
                        continue
                    boxes.append(
                        [sw * (x1 + 0.5), sh * (y1 + 0.5), sw * (x2 + 0.5), sh * (y2 + 0.5)]
                    )
    if not boxes:  # extreme panoramas: the ratio bounds exclude every anchor
        return gaic_grid(width, height, bins=bins, free_ratio=False)
    return np.rint(np.asarray(boxes)).astype(np.int64)


def _positions(free: int, image_side: int, bins: int) -> np.ndarray:
    """Window offsets from 0 to ``free`` spaced by at most one grid bin."""
    if free <= 0:
        return np.zeros(1, dtype=np.int64)
    n = math.ceil(free / (image_side / bins)) + 1
    return np.unique(np.rint(np.linspace(0, free, n)).astype(np.int64))


def ratio_windows(
    width: int,
    height: int,
    rw: int,
    rh: int,
    *,
    bins: int = GRID_BINS,
    min_area: float = 0.4,
    min_scale: float = 0.7,
) -> np.ndarray:
    """Windows of exactly ``rw:rh`` (to the nearest pixel) over scales and positions.

    Scale 1 is the largest crop of the ratio, always included so a photo whose best framing is
    "all of it" keeps its content. Smaller scales go down in steps of 0.05 while the window
    keeps more than ``min_area`` of the image (GAIC), but never stop above ``min_scale`` of the
    largest window, so extreme ratios still get a choice. Positions slide by at most one
    ``1/bins`` of the image.
    """
    # the image is wider than the ratio: full height; else full width
    max_w = height * rw / rh if width * rh >= height * rw else width
    boxes: list[np.ndarray] = []
    for step in range(0, 11):
        s = 1.0 - 0.05 * step
        cw, ch = _window_size(math.floor(max_w * s + 1e-6), rw, rh, width, height)
        if step and cw * ch <= min_area * width * height and s < min_scale - 1e-9:
            break
        xs, ys = _positions(width - cw, width, bins), _positions(height - ch, height, bins)
        gx, gy = np.meshgrid(xs, ys, indexing="ij")
        gx, gy = gx.ravel(), gy.ravel()
        boxes.append(np.stack([gx, gy, gx + cw, gy + ch], axis=1))
    return np.unique(np.concatenate(boxes), axis=0)


def _window_size(cw: int, rw: int, rh: int, width: int, height: int) -> tuple[int, int]:
    """Width and height of an ``rw:rh`` window about ``cw`` wide, to the nearest pixel, that
    fits."""
    cw = max(1, min(width, cw))
    ch = max(1, round(cw * rh / rw))
    if ch > height:
        ch = height
        cw = max(1, min(width, round(ch * rw / rh)))
    return cw, ch


def _ratio_terms(ratio: Ratio, width: int, height: int) -> tuple[int, int]:
    if ratio.kind == "original":
        g = math.gcd(width, height)
        return width // g, height // g
    return ratio.w, ratio.h


#: A box drawn by hand is of its ratio exactly (width * rh == height * rw) when the photo holds at
#: least this many such sizes; else (a decimal ratio such as 191:100 on a small photo) to the
#: nearest pixel, as the windows are.
EXACT_SIZES = 10


def fit_box(
    box: Sequence[float], ratio: Ratio, width: int, height: int
) -> tuple[int, int, int, int]:
    """A box a person drew (``sacrop review``) made a box of ``ratio`` inside the photo: whole
    pixels, its centre and area kept as far as the ratio and the photo allow."""
    x1, y1, x2, y2 = map(float, box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    bw, bh = max(1.0, x2 - x1), max(1.0, y2 - y1)
    if ratio.kind == "any":
        cw, ch = min(width, max(1, round(bw))), min(height, max(1, round(bh)))
    else:
        rw, rh = _ratio_terms(ratio, width, height)
        most = min(width // rw, height // rh)
        if most >= EXACT_SIZES:
            k = min(most, max(1, round(math.sqrt(bw * bh / (rw * rh)))))
            cw, ch = k * rw, k * rh
        else:
            cw, ch = _coarse_fit(bw, bh, rw, rh, width, height)
    left = min(max(0, round(cx - cw / 2)), width - cw)
    top = min(max(0, round(cy - ch / 2)), height - ch)
    return left, top, left + cw, top + ch


def _narrowest(rw: int, rh: int) -> int:
    """The width of the narrowest ``rw:rh`` box to the nearest pixel: its height, at least 1,
    is then ``rw / rh`` of it rounded (a 5:1 box is at least 3 x 1)."""
    return math.ceil(rw / (2 * rh))


def _coarse_fit(bw: float, bh: float, rw: int, rh: int, width: int, height: int) -> tuple[int, int]:
    """The size of an ``rw:rh`` box to the nearest pixel about ``bw x bh`` in area, never
    narrower than the ratio allows; a box already of the ratio keeps its size, so that fitting
    a fitted box changes nothing."""
    w, h = round(bw), round(bh)
    if (
        1 <= w <= width
        and 1 <= h <= height
        and (abs(h - w * rh / rw) <= 0.5 or abs(w - h * rw / rh) <= 0.5)
    ):
        return w, h
    wide = max(_narrowest(rw, rh), round(math.sqrt(bw * bh * rw / rh)))
    return _window_size(wide, rw, rh, width, height)


def candidates_for(ratio: Ratio, width: int, height: int) -> np.ndarray:
    """All candidate boxes of one requested ratio for a ``width x height`` upright image."""
    if ratio.kind == "any":
        return gaic_grid(width, height)
    return ratio_windows(width, height, *_ratio_terms(ratio, width, height))


def neighbours(
    box: np.ndarray, ratio: Ratio, width: int, height: int, *, step: float = REFINE_STEP
) -> np.ndarray:
    """The boxes one refinement step from ``box``, for a local search around a top candidate.

    Free ratio: each edge moved out or in by ``step`` of the photo's side (8 boxes), GAIC's aspect
    bounds kept unless ``box`` is already outside them (extreme panoramas). Fixed ratio: the window
    shifted by a step along each axis, or grown or shrunk by a step on each side about its centre,
    its ratio kept to the nearest pixel (6 boxes). A move that would leave the photo stops at its
    edge; boxes that do not move are dropped. Same conventions as the candidates: ``int64``
    ``[N, 4]``.
    """
    box = np.asarray(box, dtype=np.int64)
    dx, dy = max(1, round(width * step)), max(1, round(height * step))
    x1, y1, x2, y2 = (int(v) for v in box)
    if ratio.kind == "any":
        moves = np.array(
            [
                [-dx, 0, 0, 0],
                [dx, 0, 0, 0],
                [0, -dy, 0, 0],
                [0, dy, 0, 0],
                [0, 0, -dx, 0],
                [0, 0, dx, 0],
                [0, 0, 0, -dy],
                [0, 0, 0, dy],
            ],
            dtype=np.int64,
        )
        out = np.clip(box[None] + moves, 0, [width, height, width, height])
        w, h = out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]
        keep = (out != box).any(1) & (w > 0) & (h > 0)
        lo, hi = ASPECT_BOUNDS
        if lo < (x2 - x1) / (y2 - y1) < hi:
            aspect = w / np.maximum(h, 1)
            keep &= (aspect > lo) & (aspect < hi)
        return out[keep]
    rw, rh = _ratio_terms(ratio, width, height)
    cw, ch = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    boxes = [
        [x1 - dx, y1, cw, ch],
        [x1 + dx, y1, cw, ch],
        [x1, y1 - dy, cw, ch],
        [x1, y1 + dy, cw, ch],
    ]
    for grow in (2 * dx, -2 * dx):
        nw, nh = _window_size(max(cw + grow, _narrowest(rw, rh)), rw, rh, width, height)
        boxes.append([round(cx - nw / 2), round(cy - nh / 2), nw, nh])
    out = []
    for bx, by, bw, bh in boxes:
        bx, by = min(max(bx, 0), width - bw), min(max(by, 0), height - bh)
        if [bx, by, bx + bw, by + bh] != [x1, y1, x2, y2]:
            out.append([bx, by, bx + bw, by + bh])
    return np.unique(np.asarray(out, dtype=np.int64).reshape(-1, 4), axis=0)


def alternatives(
    boxes: np.ndarray, scores: np.ndarray, first: int, n: int, *, max_iou: float = ALTERNATIVE_IOU
) -> list[int]:
    """Indices of the ``n`` best boxes after ``first``, best first, each a visibly different
    framing: its IoU with ``first`` and with every box chosen before it at most ``max_iou``.

    Ties in score keep the boxes' order (stable sort), so results are deterministic.
    """
    chosen = [first]
    if n <= 0:
        return []
    boxes = np.asarray(boxes)
    overlap = box_iou_matrix(boxes, boxes[[first]])[
        :, 0
    ]  # with the best chosen so far, row-wise max
    for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        if i != first and overlap[i] <= max_iou:
            chosen.append(int(i))
            if len(chosen) > n:
                break
            overlap = np.maximum(overlap, box_iou_matrix(boxes, boxes[[i]])[:, 0])
    return chosen[1:]
