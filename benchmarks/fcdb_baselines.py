"""Trivial croppers on an FCDB-style folder, measured exactly as `sacrop eval --fcdb` measures.

    python benchmarks/fcdb_baselines.py ../shared/data/fcdb-train --val-split 0.15 --split-seed 0

With --val-split, only the held-out part that `sacrop train` would use (same seeded split) is
measured. Baselines: the whole image; the centred crop at 0.9 of each side; the largest centred
crop of the human crop's aspect ratio (it is told that ratio, so it appears only in the
"told ratio" column). For voted pairs, each baseline prefers the crop closer (IoU) to its own
box; the whole image therefore prefers the larger crop.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sacrop_cli.train.datasets import read_fcdb, split_items
from sacrop_cli.train.metrics import box_iou, displacement, pair_agreement


def centred(w: int, h: int, cw: float, ch: float) -> np.ndarray:
    return np.array([(w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2])


def largest_of_ratio(w: int, h: int, rw: float, rh: float) -> np.ndarray:
    scale = min(w / rw, h / rh)
    return centred(w, h, rw * scale, rh * scale)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--val-split", type=float, default=0.0)
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    images = read_fcdb(args.folder).images
    if args.val_split:
        images = split_items(images, args.val_split, args.split_seed)[1]
    rows = {}
    for name in ("whole image", "centred 0.9", "largest centred of the human ratio"):
        ious, disps, s0, s1, v0, v1 = [], [], [], [], [], []
        for s in images:
            w, h = s.size
            bw, bh = s.best[2] - s.best[0], s.best[3] - s.best[1]
            box = {
                "whole image": np.array([0, 0, w, h], float),
                "centred 0.9": centred(w, h, 0.9 * w, 0.9 * h),
                "largest centred of the human ratio": largest_of_ratio(w, h, bw, bh),
            }[name]
            ious.append(box_iou(box, s.best))
            disps.append(displacement(box, s.best, w, h))
            for (a, b), (va, vb) in zip(s.pair_boxes, s.pair_votes):
                s0.append(box_iou(a, box))
                s1.append(box_iou(b, box))
                v0.append(va)
                v1.append(vb)
        agree = pair_agreement(np.array(s0), np.array(s1), np.array(v0), np.array(v1))
        told = name == "largest centred of the human ratio"
        rows[name] = {
            "iou": None if told else float(np.mean(ious)),
            "disp": None if told else float(np.mean(disps)),
            "iou_told_ratio": float(np.mean(ious)) if told else None,
            "pairs_decisive": agree["decisive"],
            "pairs_all": agree["all"],
            "n": len(images),
        }
    print(
        f"{'baseline':<36} {'IoU':>6} {'Disp':>6} {'IoU told':>9} "
        f"{'pairs 5-0/4-1':>14} {'pairs all':>10}"
    )
    fmt = lambda v: "   -  " if v is None else f"{v:6.4f}"  # noqa: E731
    for name, r in rows.items():
        print(
            f"{name:<36} {fmt(r['iou'])} {fmt(r['disp'])} {fmt(r['iou_told_ratio']):>9} "
            f"{r['pairs_decisive']:14.4f} {r['pairs_all']:10.4f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
