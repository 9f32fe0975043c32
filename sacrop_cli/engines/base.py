"""The boundary between the :class:`~sacrop_cli.api.Cropper` and what runs the network.

An engine encodes photos into features once and scores any number of crops of those features;
the Cropper, the pipeline and ``explain`` see only this interface. Two implementations:
:class:`~sacrop_cli.engines.onnx_engine.OnnxEngine` (ONNX Runtime, the default, no torch needed) and
:class:`~sacrop_cli.engines.torch_engine.TorchEngine` (torch, for CUDA and for comparison).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Engine(Protocol):
    """What runs the network, seen from the Cropper."""

    name: str  # "onnx" or "torch"
    device: str  # "cpu" or "cuda"
    path: Path  # the weights file it runs
    meta: dict[str, Any]  # the checkpoint's metadata (architecture, input spec, training...)
    threads: int  # the network's threads per worker, on the CPU

    @property
    def spatial(self) -> bool:
        """Whether the network has the spatial-aware feature (and so activation maps)."""

    def encode(self, images: np.ndarray) -> Any:
        """Features of ``images`` (``float32 [B, 3, H, W]``, one input size, see
        :func:`sacrop_cli.model.preprocess.image_to_array`); opaque to callers."""

    def scores(self, features: Any, rois: np.ndarray) -> np.ndarray:
        """Scores ``float32 [K]`` of ``rois`` (``[K, 5]``: image index in the batch, then the box
        in network-input pixels) on ``features``."""

    def maps(self, features: Any) -> np.ndarray | None:
        """The activation maps ``[B, 2, grid, grid]`` (low-level, high-level), or None."""

    def workers(self) -> AbstractContextManager[int]:
        """How many batches a folder run should score side by side, for the duration of the
        ``with`` block (the engine sets its threads to suit)."""


def cpu_cores() -> int:
    """Cores this process may run on (the affinity mask, as containers and taskset set it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def onnx_cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def split_by_image(rois: np.ndarray, count: int) -> Sequence[np.ndarray]:
    """Indices of the rows of ``rois`` that belong to each of ``count`` images."""
    index = rois[:, 0].astype(np.int64)
    return [np.flatnonzero(index == b) for b in range(count)]
