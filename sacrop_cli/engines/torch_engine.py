"""The torch engine: the checkpoint's network in torch, on the CPU or CUDA.

Needed for ``--device cuda`` (unless ONNX Runtime has CUDA) and to compare with the ONNX graph;
``pip install "sacrop[train]"`` brings torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from sacrop_cli.errors import SacropError
from sacrop_cli.model.checkpoint import read_checkpoint
from sacrop_cli.model.network import ImageFeatures, build_scorer

#: Crops per forward pass are padded to a multiple of this: with few distinct tensor shapes,
#: oneDNN's kernel cache and the allocator stop growing over a folder of thousands of photos.
ROI_BUCKET = 16


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SacropError("--device cuda was asked for, but CUDA is not available here")
    return device


class TorchEngine:
    """The network of a ``.pt`` checkpoint, made faster for inference (never trained here)."""

    name = "torch"

    def __init__(self, path: Path, *, device: str = "auto", threads: int | None = None) -> None:
        self.path = Path(path)
        self._device = resolve_device(device)
        self.device = self._device.type
        # threads per worker: half of torch's by default, so that two photos run side by side
        self.threads = threads or max(1, torch.get_num_threads() // 2)
        checkpoint = read_checkpoint(self.path)
        self.meta = checkpoint.meta
        self.model = build_scorer(checkpoint, self._device).optimize_for_inference()

    @property
    def spatial(self) -> bool:
        return self.model.spatial is not None

    def _autocast(self) -> torch.autocast:
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.device == "cuda")

    @torch.inference_mode()
    def encode(self, images: np.ndarray) -> ImageFeatures:
        """On CUDA one backbone pass for the batch. On the CPU one per photo: batching gains
        nothing there, and varying batch shapes make oneDNN's kernel cache grow over thousands
        of photos."""
        batch = torch.from_numpy(np.ascontiguousarray(images, np.float32))
        with self._autocast():
            if self.device == "cuda":
                return self.model.features(batch.to(self._device))
            return ImageFeatures.cat([self.model.features(x[None]) for x in batch])

    @torch.inference_mode()
    def scores(self, features: ImageFeatures, rois: np.ndarray) -> np.ndarray:
        rois = torch.from_numpy(np.asarray(rois, np.float32).reshape(-1, 5))
        n = len(rois)
        if not n:
            return np.zeros(0, np.float32)
        rois = torch.cat([rois, rois[-1:].expand(-n % ROI_BUCKET, 5)])
        with self._autocast():
            scores = self.model.score_embeddings(
                self.model.embed_crops(features, rois.to(self._device))
            )
        return scores.float().cpu().numpy()[:n]

    def maps(self, features: ImageFeatures) -> np.ndarray | None:
        return None if features.maps is None else features.maps.float().cpu().numpy()

    @contextlib.contextmanager
    def workers(self) -> Iterator[int]:
        """On the CPU, by default two workers on half of torch's threads each (MobileNetV2's
        small convolutions use two threads poorly); torch's thread count is restored afterwards."""
        threads = torch.get_num_threads()
        count = max(1, threads // self.threads) if self.device == "cpu" else 1
        if count == 1:
            yield 1
            return
        torch.set_num_threads(self.threads)
        try:
            yield count
        finally:
            torch.set_num_threads(threads)
