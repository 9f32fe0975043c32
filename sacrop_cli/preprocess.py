"""From photo pixels to network input: the single place where coordinates are converted."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT = {"short_side": 256, "max_long_side": 768, "multiple": 32,
                 "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def input_size(width: int, height: int, spec: dict = DEFAULT_INPUT) -> tuple[int, int]:
    """Network input ``(w, h)``: shorter side ``short_side``, longer side capped at
    ``max_long_side`` (panoramas), both rounded to a multiple of ``multiple`` (at least one)."""
    short, cap, mult = spec["short_side"], spec["max_long_side"], spec["multiple"]
    scale = min(short / min(width, height), cap / max(width, height))
    def snap(v: float) -> int:
        return max(mult, int(round(v * scale / mult)) * mult)
    return snap(width), snap(height)


def resize_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` as RGB at the network input ``size`` ``(w, h)``; :func:`image_to_tensor` does
    it too, so callers may do it ahead, e.g. in a worker thread."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.size != tuple(size):
        image = image.resize(size, Image.BILINEAR, reducing_gap=2.0)
    return image


def image_to_tensor(image: Image.Image, size: tuple[int, int], spec: dict = DEFAULT_INPUT) -> Tensor:
    """An RGB PIL image resized to ``size`` ``(w, h)`` and normalised: ``Tensor[3, h, w]``."""
    image = resize_to(image, size)
    arr = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255)
    mean = torch.tensor(spec["mean"]).view(3, 1, 1)
    std = torch.tensor(spec["std"]).view(3, 1, 1)
    return arr.sub_(mean).div_(std)


def boxes_to_rois(boxes: np.ndarray, photo_size: tuple[int, int], net_size: tuple[int, int],
                  batch_index: int = 0) -> Tensor:
    """Photo-pixel boxes ``[N, 4]`` of an upright ``photo_size`` image -> rois ``[N, 5]`` in
    network-input pixels for image ``batch_index`` of a batch."""
    sx, sy = net_size[0] / photo_size[0], net_size[1] / photo_size[1]
    b = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4)
    scaled = b * torch.tensor([sx, sy, sx, sy])
    return torch.cat([torch.full((len(b), 1), float(batch_index)), scaled], dim=1)
