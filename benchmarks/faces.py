"""How the top-1 crops treat faces, with and without sacrop's face rules.

    python benchmarks/faces.py PHOTO_FOLDER... [--weights NAME|PATH] [--side 1024]

For every photo in the folders where the reference finds a face, the top-1 crop of each of six
ratios (any, 4:3, 3:4, 1:1, 16:9, 9:16) is chosen twice, with the face rules (the default) and
with ``--no-faces``, and checked against the reference faces: a face is *cut* when between 15%
and 85% of its box lies inside the crop, and the largest face is *kept* when at least 85% of it
does. The reference is YuNet again, but run on the full-resolution decode with the longer side
``--side`` pixels (sacrop looks at 512 px): it finds smaller faces, and boxes of its own. It is
the same model, so not an independent judge; its misses are sacrop's misses too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from sacrop_cli.api import Cropper
from sacrop_cli.constraints import inside
from sacrop_cli.faces import FaceDetector
from sacrop_cli.inputs import scan_inputs

RATIOS = ["any", "4:3", "3:4", "1:1", "16:9", "9:16"]
CUT = (0.15, 0.85)


def reference_faces(
    detector: FaceDetector, path: Path, side: int, min_score: float, min_size: float
) -> np.ndarray:
    """Faces of the full-resolution photo scoring at least ``min_score``, at least ``min_size``
    of the photo's longer side wide, largest first."""
    with Image.open(path) as im:
        image = ImageOps.exif_transpose(im).convert("RGB")
    faces = detector.detect(image, image.size, side)
    wide = faces[:, 2] - faces[:, 0] >= min_size * max(image.size)
    return faces[(faces[:, 4] >= min_score) & wide, :4]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", type=Path, nargs="+")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--side", type=int, default=1024, help="the reference's detection size")
    ap.add_argument("--min-score", type=float, default=0.6, help="the reference's threshold")
    ap.add_argument(
        "--min-size",
        type=float,
        default=0.0,
        help="reference faces narrower (share of the photo's longer side) are left out",
    )
    args = ap.parse_args()

    detector = FaceDetector()
    croppers = {
        "faces": Cropper(args.weights, device="cpu"),
        "no-faces": Cropper(args.weights, device="cpu", faces=False),
    }
    photos = [p for p, _ in scan_inputs(args.folders).images]
    totals = {k: {"crops": 0, "faces": 0, "cut": 0, "kept": 0, "notes": 0} for k in croppers}
    with_faces = 0
    for path in photos:
        ref = reference_faces(detector, path, args.side, args.min_score, args.min_size)
        if not len(ref):
            continue
        with_faces += 1
        for name, cropper in croppers.items():
            t = totals[name]
            for crop in cropper.crop(path, RATIOS):
                share = inside(np.asarray([crop.box]), ref)[0]
                t["crops"] += 1
                t["faces"] += len(ref)
                t["cut"] += int(((share > CUT[0]) & (share < CUT[1])).sum())
                t["kept"] += int(share[0] >= CUT[1])
                t["notes"] += crop.note is not None
    print(
        f"{len(photos)} photos, {with_faces} with faces (reference: YuNet at {args.side} px, "
        f"score >= {args.min_score}, width >= {args.min_size:.0%} of the longer side)"
    )
    print("| | faces cut | largest face kept | crops with a note |")
    print("|---|---|---|---|")
    for name, t in totals.items():
        print(
            f"| {name} ({t['crops']} crops, {t['faces']} face-crop pairs) "
            f"| {t['cut']} ({t['cut'] / max(t['faces'], 1):.1%}) "
            f"| {t['kept']} ({t['kept'] / max(t['crops'], 1):.1%}) | {t['notes']} |"
        )


if __name__ == "__main__":
    main()
