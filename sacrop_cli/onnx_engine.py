"""The default engine: the exported graph (see :mod:`sacrop_cli.export`) on ONNX Runtime.

Needs neither torch nor the ``onnx`` package: ONNX Runtime reads the graph and its metadata.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sacrop_cli.engine import ARCHITECTURE, cpu_cores, onnx_cuda_available, split_by_image
from sacrop_cli.errors import CheckpointError, SacropError, one_line

GRAPH_FORMAT = "sacrop-onnx"
GRAPH_FORMAT_VERSION = 1
_INPUTS = {True: ["image", "fused", "maps", "rois"], False: ["image", "fused", "rois"]}
_OUTPUTS = {True: ["fused_out", "maps_out", "scores"], False: ["fused_out", "scores"]}


def _gist(err: BaseException) -> str:
    """ONNX Runtime's messages start with an error code and run over lines: keep the gist."""
    # "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from X failed:Protobuf parsing..."
    text = one_line(err)
    if text.startswith("[ONNXRuntimeError]"):
        text = text.rsplit(" : ", 1)[-1].split("failed:", 1)[-1].strip()
    return text[:160].rstrip(".")


def open_graph(
    path: Path, *, threads: int = 1, providers: list[str] | None = None, optimize: bool = True
) -> tuple[Any, dict[str, Any]]:
    """An ONNX Runtime session of a sacrop graph and the graph's metadata; CheckpointError
    (one line, naming the file) for anything that is not a sacrop graph this version runs."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: graph file not found")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # ONNX Runtime's warnings about its own choices: not ours
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimize
        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    try:
        session = ort.InferenceSession(
            str(path), options, providers=providers or ["CPUExecutionProvider"]
        )
    except Exception as err:  # noqa: BLE001 - ONNX Runtime raises its own types for damaged files
        raise CheckpointError(f"{path}: not a readable ONNX graph ({_gist(err)})") from None
    props = session.get_modelmeta().custom_metadata_map
    if props.get("sacrop_format") != GRAPH_FORMAT:
        raise CheckpointError(f"{path}: not a sacrop graph (no '{GRAPH_FORMAT}' metadata)")
    version = props.get("sacrop_format_version", "")
    if not version.isdigit() or int(version) > GRAPH_FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: graph format version {version!r} is newer than this sacrop "
            f"reads (up to {GRAPH_FORMAT_VERSION}); upgrade sacrop"
        )
    try:
        meta = json.loads(props.get("sacrop_meta", ""))
        spatial = bool(meta["config"]["spatial"])
        meta["input"]["short_side"]  # noqa: B018 - present, or the graph is unusable
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: the graph's metadata is damaged") from None
    if meta.get("architecture") != ARCHITECTURE:
        raise CheckpointError(
            f"{path}: graph is for architecture {meta.get('architecture')!r}, not {ARCHITECTURE!r}"
        )
    names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
    if names != (_INPUTS[spatial], _OUTPUTS[spatial]):
        raise CheckpointError(
            f"{path}: the graph's inputs and outputs are not a sacrop network's "
            f"({', '.join(names[0])} -> {', '.join(names[1])})"
        )
    meta["checkpoint_sha256"] = props.get("sacrop_checkpoint_sha256")
    return session, meta


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
    far better than two (see the README's speed section).
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
        from sacrop_cli.weights import sha256_file, sibling

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
