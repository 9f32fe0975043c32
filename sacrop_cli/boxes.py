"""Box primitives: overlap, mirroring, clipping and the aspect ratio of a box.

Boxes are ``(x1, y1, x2, y2)`` with exclusive ends (width = x2 - x1), as ``[..., 4]`` arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

from sacrop_cli.ratios import Ratio, parse_ratio

Boxes = TypeVar("Boxes")  # a numpy array or a torch tensor


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes ``(x1, y1, x2, y2)``, exclusive ends.

    Touching or disjoint boxes give 0.0; two empty boxes (union 0) give 0.0 rather than NaN.
    """
    return float(box_iou_matrix(np.asarray([a]), np.asarray([b]))[0, 0])


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` [N, 4] with every box in ``b`` [M, 4] -> float64 [N, M].

    Computed in float64 so that large integer pixel boxes do not lose precision;
    pairs whose union is empty get 0.0.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0.0, None) * np.clip(ih, 0.0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0.0, None) * np.clip(a[:, 3] - a[:, 1], 0.0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def hflip(boxes: Boxes, width: float) -> Boxes:
    """Boxes ``[..., 4]`` of an image ``width`` wide, mirrored left to right (x1' = W - x2,
    x2' = W - x1); a new numpy array or torch tensor of the same type, the input untouched."""
    out = boxes[..., [2, 1, 0, 3]]  # advanced indexing copies, in numpy and torch alike
    out[..., 0] = width - out[..., 0]
    out[..., 2] = width - out[..., 2]
    return out


def clip_boxes(boxes: Any, width: float, height: float) -> np.ndarray:
    """Clip [..., 4] boxes to the image [0, W] x [0, H] (dtype kept; may leave empty boxes)."""
    b = np.asarray(boxes)
    if b.ndim == 0 or b.shape[-1] != 4:
        raise ValueError(f"boxes must have shape [..., 4], got {b.shape}")
    return np.clip(b, 0, np.array([width, height, width, height])).astype(b.dtype)


def ratio_of(box: Sequence[float]) -> Ratio:
    """The aspect ratio of a box in whole pixels (a human crop's, to be "told the ratio")."""
    return parse_ratio((max(1, round(box[2] - box[0])), max(1, round(box[3] - box[1]))))
