"""An int8 graph of a sacrop graph: ONNX Runtime's static QDQ quantization of both halves.

The float graph (see :mod:`sacrop_cli.model.export`) is an ``If`` whose branches are the
backbone and the heads. Each branch is taken out as a graph of its own, quantized with
:func:`onnxruntime.quantization.quantize_static` (per-channel int8 weights, uint8 activations),
calibrated on real photos (the backbone) and on their candidate boxes scored on the float
features (the heads), and put back: the int8 graph has the float graph's inputs, outputs and
metadata, so every engine and check that reads a graph reads it; its metadata also says how it
was made (``sacrop_precision``, ``sacrop_quantization``).

Needs the ``onnx`` package (``pip install "sacrop[train]"``); ONNX Runtime brings the rest.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sacrop_cli.errors import INSTALL_TRAIN, SacropError
from sacrop_cli.io.atomic import atomic_write
from sacrop_cli.io.imageio import open_for_analysis
from sacrop_cli.model.graph import open_graph
from sacrop_cli.model.preprocess import boxes_to_rois, image_to_array, input_size
from sacrop_cli.model.registry import sibling

#: Operators quantized in each half: the backbone's convolutions and what ONNX Runtime fuses
#: with them; in the heads only the weighted layers (the RoI arithmetic on box coordinates
#: stays float).
_OPS = {
    "encode": ["Conv", "Gemm", "MatMul", "Add", "Clip", "Relu", "Concat"],
    "score": ["Conv", "Gemm", "MatMul"],
}
#: FCDB training photos calibrated on by default.
DEFAULT_CALIBRATION_PHOTOS = 64

#: Boxes (``[N, 4]`` pixels) of a ``width x height`` photo, to calibrate the heads on.
BoxesFor = Callable[[int, int], np.ndarray]


def calibration_photos(
    folder: Path, exclude: Sequence[str] = (), count: int = DEFAULT_CALIBRATION_PHOTOS
) -> list[Path]:
    """``count`` JPEG photos of ``folder`` spread evenly over its sorted names, none of
    ``exclude`` (the photos a checkpoint was validated on must not tune its graph, or its
    validation figures would flatter it)."""
    left = set(exclude)
    names = sorted(
        p
        for p in Path(folder).iterdir()
        if p.suffix.lower() in (".jpg", ".jpeg") and p.name not in left
    )
    if not names:
        raise SacropError(f"{folder}: no JPEG photos to calibrate on")
    step = max(1, len(names) // count)
    return names[::step][:count]


def int8_path(graph: Path) -> Path:
    """Where the int8 graph of ``graph`` goes: beside it, ``NAME.int8.onnx``."""
    return sibling(graph, "int8")


def quantize_graph(
    graph: Path,
    folder: Path,
    boxes_for: BoxesFor,
    out: Path | None = None,
    *,
    count: int = DEFAULT_CALIBRATION_PHOTOS,
    command: str = "",
) -> Path:
    """Write the int8 graph of the float ``graph`` to ``out`` (default :func:`int8_path`),
    calibrated on ``count`` photos of ``folder`` that the weights were not validated on (the
    ``training.data.val_names`` of their metadata) and, for the heads, on the ``boxes_for``
    boxes of each. ``command`` is recorded in the graph's metadata."""
    try:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader  # noqa: F401
    except ImportError:
        raise SacropError(f"quantizing a graph needs onnx: {INSTALL_TRAIN}") from None

    graph = Path(graph)
    out = Path(out) if out is not None else int8_path(graph)
    session, meta = open_graph(graph)
    data = meta.get("training", {}).get("data")  # a description for weights not from a run
    held_out = data.get("val_names", []) if isinstance(data, dict) else []
    photos = calibration_photos(folder, held_out, count)
    samples = list(_samples(session, meta, photos, boxes_for))
    model = onnx.load(str(graph))
    branch = next(node for node in model.graph.node if node.op_type == "If")
    with tempfile.TemporaryDirectory(prefix="sacrop-int8-") as tmp:
        for attribute in branch.attribute:
            name = attribute.g.name  # "encode" or "score", as export names them
            feeds = [s[name] for s in samples if name in s]
            quantized = _quantize_half(attribute.g, model, feeds, _OPS[name], Path(tmp) / name)
            attribute.g.CopyFrom(_as_branch(quantized.graph, attribute.g))
    model.opset_import.extend(op for op in quantized.opset_import if op.domain not in ("", None))
    _set_meta(model, "sacrop_precision", "int8")
    _set_meta(
        model,
        "sacrop_quantization",
        json.dumps(
            {
                "method": "onnxruntime.quantization.quantize_static, QDQ, per-channel int8 "
                "weights (reduced range), uint8 activations, MinMax calibration",
                "calibration_photos": len(photos),
                "calibration_boxes": int(sum(len(s["score"]["rois"]) for s in samples)),
                "command": command,
                "float_graph": graph.name,
            }
        ),
    )
    onnx.checker.check_model(model)
    return atomic_write(out, lambda fh: fh.write(model.SerializeToString()), durable=True)


def _samples(
    session: Any, meta: dict[str, Any], photos: Sequence[Path], boxes_for: BoxesFor
) -> Iterator[dict[str, dict[str, np.ndarray]]]:
    """Per photo, the inputs of each half as a run feeds them: the preprocessed photo, then
    its float features with the rois of its boxes."""
    spec = meta["input"]
    spatial = bool(meta["config"]["spatial"])
    names = [i.name for i in session.get_inputs()]
    for path in photos:
        image, full = open_for_analysis(path, spec["short_side"])
        size = input_size(*full, spec)
        pixels = image_to_array(image, size, spec)[None]
        idle = {
            "fused": np.zeros((1, meta["config"]["reduced_dim"], 0, 0), np.float32),
            "maps": np.zeros((1, 2, meta["config"]["grid"], meta["config"]["grid"]), np.float32),
            "rois": np.zeros((0, 5), np.float32),
        }
        feeds = {n: pixels if n == "image" else idle[n] for n in names}
        outputs = ["fused_out", "maps_out"] if spatial else ["fused_out"]
        features = dict(zip(outputs, session.run(outputs, feeds)))
        rois = boxes_to_rois(boxes_for(*full), full, size)
        score = {"fused": features["fused_out"], "rois": rois}
        if spatial:
            score["maps"] = features["maps_out"]
        yield {"encode": {"image": pixels}, "score": score}


def _quantize_half(
    half: Any, model: Any, feeds: list[dict[str, np.ndarray]], ops: list[str], tmp: Path
) -> Any:
    """One branch as a model of its own (its outer-scope inputs as inputs, its own outputs
    before the If's renaming), quantized."""
    import onnx
    from onnx import helper
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.left, None)

    renaming = {n.output[0]: n.input[0] for n in half.node if n.op_type == "Identity"}
    outputs = [renaming[o.name] for o in half.output if o.name in renaming]
    produced = {name for node in half.node for name in node.output}
    produced |= {init.name for init in half.initializer}
    inputs = [i for i in model.graph.input if i.name in feeds[0] and i.name not in produced]
    standalone = helper.make_graph(
        [n for n in half.node if n.op_type != "Identity" and not _is_empty_output(n, half)],
        half.name,
        inputs,
        [helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None) for o in outputs],
        initializer=list(half.initializer),
        value_info=list(half.value_info),
    )
    plain = helper.make_model(standalone, opset_imports=list(model.opset_import))
    plain.ir_version = model.ir_version
    tmp.mkdir()
    onnx.save(plain, str(tmp / "float.onnx"))
    quantize_static(
        str(tmp / "float.onnx"),
        str(tmp / "int8.onnx"),
        Reader(),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=ops,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        reduce_range=True,  # 7-bit weights: x86 int8 kernels without VNNI saturate on 8
    )
    return onnx.load(str(tmp / "int8.onnx"))


def _is_empty_output(node: Any, half: Any) -> bool:
    """The Constant a branch returns for the other half's outputs."""
    return node.op_type == "Constant" and node.output[0] in {o.name for o in half.output}


def _as_branch(quantized: Any, original: Any) -> Any:
    """The quantized graph as the If branch it came from: no inputs of its own (it reads the
    outer ones), and the branch's outputs (its own renamed, the other half's empty)."""
    from onnx import helper

    kept = [n for n in original.node if n.op_type == "Identity" or _is_empty_output(n, original)]
    return helper.make_graph(
        [*quantized.node, *kept],
        original.name,
        [],
        list(original.output),
        initializer=list(quantized.initializer),
        value_info=list(quantized.value_info),
    )


def _set_meta(model: Any, key: str, value: str) -> None:
    for entry in model.metadata_props:
        if entry.key == key:
            entry.value = value
            return
    entry = model.metadata_props.add()
    entry.key, entry.value = key, value
