"""The default engine: the exported graph (see :mod:`sacrop_cli.model.export`) on ONNX Runtime.

Needs neither torch nor the ``onnx`` package: ONNX Runtime reads the graph and its metadata.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sacrop_cli.engines.base import cpu_cores, onnx_cuda_available, split_by_image
from sacrop_cli.errors import CheckpointError, SacropError
from sacrop_cli.io.download import sha256_file
from sacrop_cli.model.graph import open_graph
from sacrop_cli.model.registry import sibling


def _providers(device: str) -> tuple[list[str], str]:
    if device == "cpu":
        return ["CPUExecutionProvider"], "cpu"
    if onnx_cuda_available():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], "cuda"
    if device == "cuda":
        raise SacropError(
            "--device cuda: this ONNX Runtime has no CUDA; install onnxruntime-gpu "
            "or use --engine torch"
        )
    return ["CPUExecutionProvider"], "cpu"


class OnnxEngine:
    """Runs a sacrop graph: the backbone once per photo, then the heads for any crops of it.

    On the CPU, each run uses ``threads`` threads (default 1) and a folder run scores
    ``cores // threads`` photos side by side: MobileNetV2's small convolutions use one thread
    far better than two (see docs/benchmarks.md).
    """

    name = "onnx"

    def __init__(self, path: Path, *, device: str = "auto", threads: int | None = None) -> None:
        providers, self.device = _providers(device)
        self.threads = threads or 1
        self.path = Path(path)
        self._session, self.meta = open_graph(self.path, threads=self.threads, providers=providers)
        self._check_checkpoint_beside()
        self._inputs = [i.name for i in self._session.get_inputs()]
        grid, channels = self.meta["config"]["grid"], self.meta["config"]["reduced_dim"]
        # the inputs of the half a run does not compute: empty (an empty image selects the heads)
        self._idle = {
            "image": np.zeros((1, 3, 0, 0), np.float32),
            "fused": np.zeros((1, channels, 0, 0), np.float32),
            "maps": np.zeros((1, 2, grid, grid), np.float32),
            "rois": np.zeros((0, 5), np.float32),
        }

    def _check_checkpoint_beside(self) -> None:
        """A graph beside a checkpoint of the same name must be that checkpoint's export:
        otherwise ``sacrop train`` or a copy replaced one and not the other."""
        checkpoint = sibling(self.path, "torch")
        recorded = self.meta.get("checkpoint_sha256")
        if recorded and checkpoint.is_file() and sha256_file(checkpoint) != recorded:
            raise CheckpointError(
                f"{self.path}: outdated: it was not exported from the {checkpoint.name} "
                f"beside it; run `sacrop weights export {checkpoint}`"
            )

    @property
    def spatial(self) -> bool:
        return bool(self.meta["config"]["spatial"])

    def _run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self._session.run(
            outputs, {name: feeds.get(name, self._idle[name]) for name in self._inputs}
        )

    def encode(self, images: np.ndarray) -> list[list[np.ndarray]]:
        """Per image: its fused map and (spatial model) its activation maps."""
        outputs = ["fused_out", "maps_out"] if self.spatial else ["fused_out"]
        return [
            self._run(outputs, {"image": np.ascontiguousarray(images[i : i + 1], np.float32)})
            for i in range(len(images))
        ]

    def scores(self, features: list[list[np.ndarray]], rois: np.ndarray) -> np.ndarray:
        rois = np.asarray(rois, np.float32).reshape(-1, 5)
        out = np.zeros(len(rois), np.float32)
        for image, rows in zip(features, split_by_image(rois, len(features))):
            if len(rows):
                own = rois[rows].copy()
                own[:, 0] = 0
                feeds = {"fused": image[0], "rois": own}
                if self.spatial:
                    feeds["maps"] = image[1]
                out[rows] = self._run(["scores"], feeds)[0]
        return out

    def maps(self, features: list[list[np.ndarray]]) -> np.ndarray | None:
        return np.concatenate([image[1] for image in features]) if self.spatial else None

    @contextlib.contextmanager
    def workers(self) -> Iterator[int]:
        yield max(1, cpu_cores() // self.threads) if self.device == "cpu" else 1
