"""Faces in a photo, found offline by YuNet on ONNX Runtime (the runtime that scores crops).

YuNet (2023mar, MIT, from OpenCV's model zoo; ``weights/LICENSE-yunet``) is a 0.23 MB
detector. The shipped graph is the zoo's with its input size made free (the zoo's is fixed at
640x640), so a photo is detected at its own aspect ratio; nothing else in it differs. It reads
BGR pixels in 0-255, its sides multiples of 32, and answers, for each stride 8, 16 and 32, a
class and an objectness score and a box per cell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from sacrop_cli.boxes import box_iou_matrix
from sacrop_cli.errors import CheckpointError
from sacrop_cli.io.download import sha256_file
from sacrop_cli.model.graph import session_options
from sacrop_cli.model.registry import shipped_weights_dirs

GRAPH = "yunet-2023mar.onnx"
GRAPH_SHA256 = "85260e29ac9c2546c0f4dcb9f98ad5b754e986f76592473013aa6cfd8c0e446b"
#: Photos are looked at as the network's reduced decode gives them (a JPEG's DCT draft: a longer
#: side of 384 to 767 px for a 3:2 photo), shrunk by a whole factor to at most this: YuNet's
#: smallest faces, about 10 px there, are 2-3% of the frame, too small to decide a crop. Not
#: enlarged: that costs time for few faces (see docs/method.md).
DETECT_SIDE = 512
#: A detection counts as a face from this score (YuNet's score: sqrt(class * objectness)); lower
#: than OpenCV's usual 0.6, which at these sizes loses small faces.
SCORE_THRESHOLD = 0.5
#: Of two detections overlapping more than this (IoU), only the better one is a face.
NMS_IOU = 0.3
_STRIDES = (8, 16, 32)


def _graph_path() -> Path:
    for folder in shipped_weights_dirs():
        if (folder / GRAPH).is_file():
            return folder / GRAPH
    raise CheckpointError(
        f"{GRAPH}: the face detector is missing from this install; reinstall sacrop"
    )


class FaceDetector:
    """Finds faces in upright RGB images; thread-safe (one ONNX Runtime session, one thread per
    call, as the scorer's workers run)."""

    def __init__(self, path: str | Path | None = None) -> None:
        import onnxruntime as ort

        path = Path(path) if path is not None else _graph_path()
        if sha256_file(path) != GRAPH_SHA256:
            raise CheckpointError(f"{path}: not the shipped face detector (SHA-256 differs)")
        self.session = ort.InferenceSession(
            str(path), session_options(1), providers=["CPUExecutionProvider"]
        )
        self._outputs = [o.name for o in self.session.get_outputs()]

    def detect(self, image: Image.Image, full_size: tuple[int, int]) -> np.ndarray:
        """Faces of ``image`` (a reduced copy of a photo whose upright size is ``full_size``):
        ``[N, 5]`` float rows ``x1, y1, x2, y2, score`` in full-resolution pixels, clipped to
        the photo, largest first."""
        # shrunk by a whole factor (Pillow's reduce: a cheap box filter) to at most DETECT_SIDE;
        # the scorer's own image, not a copy of it, when it is RGB already (the usual case)
        factor = -(-max(image.size) // DETECT_SIDE)
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        small = rgb.reduce(factor) if factor > 1 else rgb
        dw, dh = small.size
        pw, ph = -(-dw // 32) * 32, -(-dh // 32) * 32
        x = np.zeros((1, 3, ph, pw), np.float32)
        x[0, :, :dh, :dw] = np.asarray(small)[:, :, ::-1].transpose(2, 0, 1)  # BGR, 0-255
        outputs = dict(zip(self._outputs, self.session.run(None, {"input": x})))
        faces = decode(outputs, pw, ph)
        fw, fh = full_size
        faces[:, [0, 2]] = np.clip(faces[:, [0, 2]] * (fw / dw), 0, fw)
        faces[:, [1, 3]] = np.clip(faces[:, [1, 3]] * (fh / dh), 0, fh)
        area = (faces[:, 2] - faces[:, 0]) * (faces[:, 3] - faces[:, 1])
        return faces[np.argsort(-area, kind="stable")]


def decode(outputs: dict[str, np.ndarray], width: int, height: int) -> np.ndarray:
    """YuNet's raw outputs for a ``width`` x ``height`` input as ``[N, 5]`` boxes in its pixels,
    thresholded and de-duplicated (greedy NMS)."""
    rows = []
    for s in _STRIDES:
        cols = width // s
        cls = outputs[f"cls_{s}"][0, :, 0]
        obj = outputs[f"obj_{s}"][0, :, 0]
        score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
        keep = np.flatnonzero(score >= SCORE_THRESHOLD)
        if not len(keep):
            continue
        b = outputs[f"bbox_{s}"][0, keep]
        cx = (keep % cols + b[:, 0]) * s
        cy = (keep // cols + b[:, 1]) * s
        bw, bh = np.exp(b[:, 2]) * s, np.exp(b[:, 3]) * s
        rows.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, score[keep]], 1))
    if not rows:
        return np.zeros((0, 5), np.float64)
    return nms(np.concatenate(rows), NMS_IOU)


def nms(found: np.ndarray, max_iou: float) -> np.ndarray:
    """Greedy non-maximum suppression of ``[N, 5]`` boxes with scores: best first, each box
    kept unless it overlaps a kept one by more than ``max_iou``."""
    found = np.asarray(found, np.float64)
    found = found[np.argsort(-found[:, 4], kind="stable")]
    iou = box_iou_matrix(found[:, :4], found[:, :4])
    kept: list[int] = []
    for i in range(len(found)):
        if all(iou[i, j] <= max_iou for j in kept):
            kept.append(i)
    return found[kept]


def face_list(faces: np.ndarray) -> list[list[float]]:
    """Faces as JSON-ready rows: whole pixels and the score to 2 places."""
    return [[*(round(float(v)) for v in f[:4]), round(float(f[4]), 2)] for f in faces]
