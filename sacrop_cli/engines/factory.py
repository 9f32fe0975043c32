"""Choosing and loading an engine: the one place that knows every engine.

The torch engine's module imports torch, which cropping must not pay for, so it is loaded only
when chosen.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sacrop_cli._lazy import lazy_module
from sacrop_cli.engines.base import Engine, onnx_cuda_available
from sacrop_cli.engines.choices import DEFAULT_PRECISION, DEVICES, ENGINES, PRECISIONS
from sacrop_cli.engines.onnx_engine import OnnxEngine
from sacrop_cli.errors import INSTALL_TRAIN, SacropError
from sacrop_cli.model.registry import resolve_weights

if TYPE_CHECKING:
    from sacrop_cli.engines import torch_engine
else:
    torch_engine = lazy_module("sacrop_cli.engines.torch_engine")


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
            f"{what} needs torch, which is not installed: {INSTALL_TRAIN}"
        ) from None


def load_engine(
    weights: str | Path | None = None,
    *,
    engine: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    precision: str = DEFAULT_PRECISION,
) -> Engine:
    """The engine for ``weights`` (a registered name, a file or a URL; default: the shipped
    weights). ``threads`` is the network's threads per worker; None lets the engine choose.
    ``precision="int8"`` runs the int8 graph beside the float one (ONNX Runtime only)."""
    if precision not in PRECISIONS:
        raise SacropError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    kind = choose_engine(engine, device)
    if kind == "onnx":
        graph = resolve_weights(weights, kind="int8" if precision == "int8" else "onnx")
        return OnnxEngine(graph, device=device, threads=threads)
    if precision == "int8":
        raise SacropError("--precision int8 runs on ONNX Runtime: use --engine onnx")
    require_torch("the torch engine (--engine torch, or --device cuda without onnxruntime-gpu)")
    return torch_engine.TorchEngine(
        resolve_weights(weights, kind="torch"), device=device, threads=threads
    )
