"""The Python API: ``Cropper`` finds and scores crops; the CLI is a thin layer over it.

>>> from sacrop_cli import Cropper
>>> cropper = Cropper()                       # shipped weights, CUDA when present
>>> cropper.crop("photo.jpg", ratios=["4:3"], top_k=2)
[Crop(ratio='4:3', rank=1, box=(12, 0, 1612, 1200), score=1.23), ...]

Boxes are integer pixels of the upright photo (EXIF orientation applied), x2/y2 exclusive.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sacrop_cli.candidates import Ratio, candidates_for, parse_ratio, top_k
from sacrop_cli.checkpoint import Checkpoint, read_checkpoint
from sacrop_cli.network import CropScorer
from sacrop_cli.preprocess import boxes_to_rois, image_to_tensor, input_size


#: Crops per forward pass are padded to a multiple of this: with few distinct tensor shapes,
#: oneDNN's kernel cache and the allocator stop growing over a folder of thousands of photos.
ROI_BUCKET = 16


@dataclass(frozen=True)
class Crop:
    ratio: str
    rank: int
    box: tuple[int, int, int, int]
    score: float


@dataclass
class Analysis:
    """One photo ready for the network: a reduced upright RGB image and its full size."""

    image: Image.Image
    full_size: tuple[int, int]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        from sacrop_cli.errors import SacropError

        raise SacropError("--device cuda was asked for, but CUDA is not available here")
    return device


def as_ratios(ratios: Iterable[str | Ratio]) -> list[Ratio]:
    out = [r if isinstance(r, Ratio) else parse_ratio(r) for r in ratios]
    return list(dict.fromkeys(out))  # de-duplicated, order kept


class Cropper:
    """Scores candidate crops of photos with a trained :class:`CropScorer`."""

    def __init__(self, weights: str | Path | None = None, device: str | torch.device = "auto") -> None:
        from sacrop_cli.weights import resolve_weights

        path = weights if isinstance(weights, Path) else resolve_weights(weights)
        self._setup(read_checkpoint(path), resolve_device(device))
        self.weights_path: Path | None = Path(path)

    def _setup(self, ckpt: Checkpoint, device: torch.device) -> None:
        self.device, self.meta = device, ckpt.meta
        self.model = ckpt.build(device).optimize_for_inference()  # ours alone: never trained
        self.input_spec = ckpt.meta["input"]

    # -- loading -------------------------------------------------------------------------
    def load(self, image_or_path: str | Path | Image.Image) -> Analysis:
        """A path is decoded at reduced size (JPEG draft); a PIL image must already be upright."""
        if isinstance(image_or_path, Image.Image):
            return Analysis(image_or_path.convert("RGB"), image_or_path.size)
        from sacrop_cli.imageio import open_for_analysis

        image, full = open_for_analysis(Path(image_or_path), self.input_spec["short_side"])
        return Analysis(image, full)

    # -- scoring ---------------------------------------------------------------------------
    @torch.inference_mode()
    def score_many(self, photos: Sequence[Analysis], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Scores of ``boxes[i]`` (``[N_i, 4]`` full-resolution pixels) on ``photos[i]``.

        On CUDA, photos with the same network input size share one backbone pass. On the CPU
        each photo has its own: batching gains nothing there, and varying batch shapes make
        oneDNN's kernel cache grow over thousands of photos (measured: peak RSS 1.29 GB after
        400 photos batched, 1.04 GB one by one, at the same speed).
        """
        out: list[np.ndarray | None] = [None] * len(photos)
        groups: dict[tuple[int, int] | int, list[int]] = {}
        for i, photo in enumerate(photos):
            key = input_size(*photo.full_size, self.input_spec) if self.device.type == "cuda" else i
            groups.setdefault(key, []).append(i)
        autocast = torch.autocast("cuda", dtype=torch.float16, enabled=self.device.type == "cuda")
        for members in groups.values():
            size = input_size(*photos[members[0]].full_size, self.input_spec)
            batch = torch.stack([image_to_tensor(photos[i].image, size, self.input_spec) for i in members])
            rois = torch.cat([boxes_to_rois(boxes[i], photos[i].full_size, size, b)
                              for b, i in enumerate(members)])
            n_rois = len(rois)
            rois = torch.cat([rois, rois[-1:].expand(-n_rois % ROI_BUCKET, 5)])
            with autocast:
                scores = self.model(batch.to(self.device), rois.to(self.device)).float().cpu().numpy()[:n_rois]
            start = 0
            for i in members:
                n = len(boxes[i])
                out[i] = scores[start:start + n]
                start += n
        return out  # type: ignore[return-value]

    def best_crops(self, photos: Sequence[Analysis], ratios: Iterable[str | Ratio], k: int = 1) -> list[list[Crop]]:
        """Top-``k`` de-duplicated crops per ratio for each photo, all ratios in one pass."""
        wanted = as_ratios(ratios)
        per_photo: list[list[tuple[Ratio, np.ndarray]]] = [
            [(r, candidates_for(r, *p.full_size)) for r in wanted] for p in photos
        ]
        all_boxes = [np.concatenate([b for _, b in cands]) for cands in per_photo]
        all_scores = self.score_many(photos, all_boxes)
        results: list[list[Crop]] = []
        for cands, scores in zip(per_photo, all_scores):
            crops, start = [], 0
            for ratio, boxes in cands:
                s = scores[start:start + len(boxes)]
                start += len(boxes)
                for rank, i in enumerate(top_k(boxes, s, k), start=1):
                    crops.append(Crop(ratio.label, rank, tuple(int(v) for v in boxes[i]), float(s[i])))
            results.append(crops)
        return results

    def crop(self, image_or_path: str | Path | Image.Image, ratios: Iterable[str | Ratio] = ("any",),
             top_k: int = 1) -> list[Crop]:
        """The ``top_k`` best crops of one photo for each ratio, best first within a ratio."""
        return self.best_crops([self.load(image_or_path)], ratios, top_k)[0]

    def score(self, image_or_path: str | Path | Image.Image, boxes: Sequence[Sequence[float]]) -> list[float]:
        """Scores of the given boxes (full-resolution upright pixels); higher is better."""
        photo = self.load(image_or_path)
        arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        w, h = photo.full_size
        bad = ~((arr[:, 0] >= 0) & (arr[:, 1] >= 0) & (arr[:, 2] <= w) & (arr[:, 3] <= h)
                & (arr[:, 2] > arr[:, 0]) & (arr[:, 3] > arr[:, 1]))
        if bad.any():
            raise ValueError(f"box {arr[bad][0].astype(int).tolist()} is empty or outside the {w}x{h} image")
        return [float(s) for s in self.score_many([photo], [arr])[0]]
