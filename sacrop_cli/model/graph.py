"""Reading a sacrop graph (``.onnx``): an ONNX Runtime session and the metadata it carries.

Needs neither torch nor the ``onnx`` package; the engines run what this opens and ``sacrop
weights`` inspects it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sacrop_cli.errors import CheckpointError, one_line
from sacrop_cli.model.format import (
    ARCHITECTURE,
    GRAPH_FORMAT,
    GRAPH_FORMAT_VERSION,
    GRAPH_INPUTS,
    GRAPH_OUTPUTS,
)


def _gist(err: BaseException) -> str:
    """ONNX Runtime's messages start with an error code and run over lines: keep the gist."""
    # "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from X failed:Protobuf parsing..."
    text = one_line(err)
    if text.startswith("[ONNXRuntimeError]"):
        text = text.rsplit(" : ", 1)[-1].split("failed:", 1)[-1].strip()
    return text[:160].rstrip(".")


def session_options(threads: int = 1, *, optimize: bool = True) -> Any:
    """ONNX Runtime options for a session sharing the machine with others: the scorer's
    workers, the face detector and the decode and write workers run side by side, so each
    session computes on ``threads`` threads it was given (1: the calling thread alone, no pool)
    and none spins waiting for work, which would take a core from the stage beside it. Nodes
    run one after another (the graphs are chains); every graph optimisation is on unless
    ``optimize`` is off."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # ONNX Runtime's warnings about its own choices: not ours
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimize
        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    return options


def open_graph(
    path: Path, *, threads: int = 1, providers: list[str] | None = None, optimize: bool = True
) -> tuple[Any, dict[str, Any]]:
    """An ONNX Runtime session of a sacrop graph and the graph's metadata; CheckpointError
    (one line, naming the file) for anything that is not a sacrop graph this version runs."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: graph file not found")
    options = session_options(threads, optimize=optimize)
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
    if names != (GRAPH_INPUTS[spatial], GRAPH_OUTPUTS[spatial]):
        raise CheckpointError(
            f"{path}: the graph's inputs and outputs are not a sacrop network's "
            f"({', '.join(names[0])} -> {', '.join(names[1])})"
        )
    meta["checkpoint_sha256"] = props.get("sacrop_checkpoint_sha256")
    return session, meta
