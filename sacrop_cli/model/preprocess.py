"""From photo pixels to network input: the single place where coordinates are converted.

Plain numpy, so that cropping never needs torch: both engines take these arrays.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from sacrop_cli.model.format import DEFAULT_INPUT


def input_size(width: int, height: int, spec: dict = DEFAULT_INPUT) -> tuple[int, int]:
    """Network input ``(w, h)``: shorter side ``short_side``, longer side capped at
    ``max_long_side`` (panoramas), both rounded to a multiple of ``multiple`` (at least one)."""
    short, cap, mult = spec["short_side"], spec["max_long_side"], spec["multiple"]
    scale = min(short / min(width, height), cap / max(width, height))

    def snap(v: float) -> int:
        return max(mult, int(round(v * scale / mult)) * mult)

    return snap(width), snap(height)


def resize_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` as RGB at the network input ``size`` ``(w, h)``; :func:`image_to_array` does
    it too, so callers may do it ahead, e.g. in a worker thread."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != tuple(size):
        image = image.resize(size, Image.BILINEAR, reducing_gap=2.0)
    return image


def image_to_array(
    image: Image.Image, size: tuple[int, int], spec: dict = DEFAULT_INPUT
) -> np.ndarray:
    """An RGB PIL image resized to ``size`` ``(w, h)`` and normalised: ``float32 [3, h, w]``."""
    image = resize_to(image, size)
    # Pillow splits the bands ten times faster than numpy transposes interleaved pixels
    arr = np.stack([np.asarray(band) for band in image.split()]).astype(np.float32)
    arr /= np.float32(255)
    arr -= np.asarray(spec["mean"], dtype=np.float32).reshape(3, 1, 1)
    arr /= np.asarray(spec["std"], dtype=np.float32).reshape(3, 1, 1)
    return arr


def boxes_to_rois(
    boxes: np.ndarray, photo_size: tuple[int, int], net_size: tuple[int, int], batch_index: int = 0
) -> np.ndarray:
    """Photo-pixel boxes ``[N, 4]`` of an upright ``photo_size`` image -> rois ``float32 [N, 5]``
    in network-input pixels for image ``batch_index`` of a batch."""
    sx, sy = net_size[0] / photo_size[0], net_size[1] / photo_size[1]
    b = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scaled = b * np.asarray([sx, sy, sx, sy], dtype=np.float32)
    return np.concatenate([np.full((len(b), 1), batch_index, dtype=np.float32), scaled], axis=1)
