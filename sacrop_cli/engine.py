"""The boundary between the :class:`~sacrop_cli.api.Cropper` and what runs the network.

An engine encodes photos into features once and scores any number of crops of those features;
the Cropper, the pipeline and ``explain`` see only this interface. Two implementations:
:class:`~sacrop_cli.onnx_engine.OnnxEngine` (ONNX Runtime, the default, no torch needed) and
:class:`~sacrop_cli.torch_engine.TorchEngine` (torch, for CUDA and for comparison).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sacrop_cli.errors import SacropError

#: The network every checkpoint and graph of this version describes.
ARCHITECTURE = "sacrop.CropScorer"
ENGINES = ("auto", "onnx", "torch")
DEVICES = ("auto", "cpu", "cuda")


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
        :func:`sacrop_cli.preprocess.image_to_array`); opaque to callers."""

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


def choose_engine(engine: str = "auto", device: str = "auto") -> str:
    """``auto`` is ONNX Runtime, except ``--device cuda`` where ONNX Runtime has no CUDA here."""
    if engine not in ENGINES:
        raise SacropError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if device not in DEVICES:
        raise SacropError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if engine == "auto":
        return "torch" if device == "cuda" and not onnx_cuda_available() else "onnx"
    return engine


def require_torch(what: str) -> None:
    """Raise a one-line SacropError naming the extra to install when torch is missing."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SacropError(
            f"{what} needs torch, which is not installed: pip install \"sacrop[train]\""
        ) from None


def load_engine(
    weights: str | Path | None = None,
    *,
    engine: str = "auto",
    device: str = "auto",
    threads: int | None = None,
) -> Engine:
    """The engine for ``weights`` (a registered name, a file or a URL; default: the shipped
    weights). ``threads`` is the network's threads per worker; None lets the engine choose."""
    from sacrop_cli.weights import resolve_weights

    kind = choose_engine(engine, device)
    if kind == "onnx":
        from sacrop_cli.onnx_engine import OnnxEngine

        return OnnxEngine(resolve_weights(weights, kind="onnx"), device=device, threads=threads)
    require_torch("the torch engine (--engine torch, or --device cuda without onnxruntime-gpu)")
    from sacrop_cli.torch_engine import TorchEngine

    return TorchEngine(resolve_weights(weights, kind="torch"), device=device, threads=threads)


def split_by_image(rois: np.ndarray, count: int) -> Sequence[np.ndarray]:
    """Indices of the rows of ``rois`` that belong to each of ``count`` images."""
    index = rois[:, 0].astype(np.int64)
    return [np.flatnonzero(index == b) for b in range(count)]
