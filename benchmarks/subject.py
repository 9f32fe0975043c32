"""Does the top-1 crop keep the salient subject? Measured on FCDB photos, with the subject rule
and without it.

    python benchmarks/fcdb_val.py ../shared/data/fcdb-train /tmp/fcdb-val   # the validation folder
    python benchmarks/subject.py /tmp/fcdb-val [--weights NAME|PATH]

The folder is any FCDB-style folder; ``benchmarks/fcdb_val.py`` builds the one of the photos
the shipped weights held out (their validation part), as above.

The subject is read off the network's own high-level activation map (the spatial-aware
feature's "salient objects" map, a 16 x 16 grid over the photo), as ``sacrop crop`` reads it
(``constraints.subject_box``). Two measures:

- per ratio (any, 4:3, 3:4, 1:1, 16:9, 9:16): of the crops where a window of the ratio can hold
  the subject, how many top-1 crops keep less than 85% of it, and less than half;
- the issue's: the part of the subject inside the human crop is what the human kept; how often
  does the free-ratio top-1, and the top-1 told the human crop's ratio, keep less than 85% of it.

"without the rule" is the same run with the rule's step set to 0 (boxes moved to hold the
subject still compete, on their scores alone).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sacrop_cli import constraints
from sacrop_cli.api import Cropper
from sacrop_cli.boxes import ratio_of
from sacrop_cli.candidates import candidates_for
from sacrop_cli.constraints import inside, subject_box
from sacrop_cli.ratios import parse_ratio
from sacrop_cli.train.datasets import read_fcdb

RATIOS = ["any", "4:3", "3:4", "1:1", "16:9", "9:16"]


def measure(cropper: Cropper, samples: list) -> dict[str, list[int]]:
    counts = {r: [0, 0, 0] for r in [*RATIOS, "human kept: any", "human kept: told ratio"]}
    for sample in samples:
        photo = cropper.load(sample.path)
        encoded = cropper.encode([photo])
        subject = subject_box(encoded.maps()[0][1], *photo.full_size)
        told = ratio_of(sample.best)
        crops = encoded.best_crops([[*(parse_ratio(r) for r in RATIOS), told]], 1)[0]
        for name, crop in zip(RATIOS, crops):
            cands = candidates_for(parse_ratio(name), *photo.full_size)
            size = subject[2:] - subject[:2]
            if not ((cands[:, 2:] - cands[:, :2]) >= size).all(1).any():
                continue
            share = inside(np.asarray([crop.box]), subject[None])[0, 0]
            counts[name] = [a + b for a, b in zip(counts[name], (1, share < 0.85, share < 0.5))]
        human = np.asarray(sample.best, np.float64)
        kept = np.concatenate(
            [np.maximum(subject[:2], human[:2]), np.minimum(subject[2:], human[2:])]
        )
        if (kept[2:] <= kept[:2]).any():
            continue
        for name, crop in (("human kept: any", crops[0]), ("human kept: told ratio", crops[-1])):
            share = inside(np.asarray([crop.box]), kept[None])[0, 0]
            counts[name] = [a + b for a, b in zip(counts[name], (1, share < 0.85, share < 0.5))]
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "fcdb", type=Path, help="an FCDB-style folder, e.g. one built by benchmarks/fcdb_val.py"
    )
    ap.add_argument("--weights", default=None)
    ap.add_argument("--precision", choices=["fp32", "int8"], default="fp32")
    args = ap.parse_args()

    cropper = Cropper(args.weights, device="cpu", precision=args.precision)
    samples = read_fcdb(args.fcdb).images
    with_rule = measure(cropper, samples)
    step, constraints.SUBJECT_STEP = constraints.SUBJECT_STEP, 0.0
    try:
        without = measure(cropper, samples)
    finally:
        constraints.SUBJECT_STEP = step
    print(f"{len(samples)} photos; top-1 crops that keep < 85% / < 50% of the subject")
    print("| crops | subject fits | with the rule | without |")
    print("|---|---|---|---|")
    for name in with_rule:
        n, a85, a50 = with_rule[name]
        _, b85, b50 = without[name]
        print(f"| {name} | {n} | {a85} / {a50} | {b85} / {b50} |")


if __name__ == "__main__":
    main()
