"""Export a checkpoint to the ONNX graph that ``sacrop crop`` runs with ONNX Runtime.

One file holds the network's two halves as the two branches of an ``If`` on the image's size,
so one session serves both and each run computes only its half:

- ``image [1, 3, H, W]`` (H, W multiples of 32) -> ``fused_out [1, C, H/16, W/16]`` and
  ``maps_out [1, 2, g, g]``: the backbone, run once per photo;
- an empty ``image [1, 3, 0, 0]`` with ``fused``, ``maps`` and ``rois [K, 5]`` -> ``scores [K]``:
  the heads, for any number of crops of one photo (column 0 of ``rois`` is 0).

The outputs of the half not run are empty. The basic model (no spatial-aware feature) has
neither ``maps`` nor ``maps_out``. The checkpoint's metadata is stored in the graph
(``metadata_props``), with the SHA-256 of the checkpoint it came from, so a graph can be listed,
checked and matched with its checkpoint without torch.

Needs torch, onnx and onnxscript (``pip install "sacrop[train]"``).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sacrop_cli.errors import INSTALL_TRAIN, SacropError
from sacrop_cli.io.atomic import atomic_write
from sacrop_cli.model.checkpoint import read_checkpoint
from sacrop_cli.model.format import GRAPH_FORMAT, GRAPH_FORMAT_VERSION
from sacrop_cli.model.network import (
    STRIDE,
    CropScorer,
    ImageFeatures,
    build_scorer,
    fold_batch_norms,
)
from sacrop_cli.model.registry import sha256_file, sibling

#: ONNX operator set the graph is written with (ONNX Runtime 1.17 and newer run it).
OPSET = 18
#: Largest network input side the graph accepts, in multiples of 32 (8,192 pixels).
MAX_SIDE_BLOCKS = 256


class _Halves(nn.Module):
    """The exported function: the backbone of ``image`` and the heads on given features."""

    def __init__(self, model: CropScorer) -> None:
        super().__init__()
        self.model = model

    def heads(self, fused: Tensor, maps: Tensor | None, rois: Tensor) -> Tensor:
        # the network input's size follows from the fused map's (stride 16, exact)
        feats = ImageFeatures(fused, maps, (fused.shape[3] * STRIDE, fused.shape[2] * STRIDE))
        return self.model.score_embeddings(self.model.embed_crops(feats, rois))


class _SpatialGraph(_Halves):
    def forward(
        self, image: Tensor, fused: Tensor, maps: Tensor, rois: Tensor
    ) -> tuple[Tensor, ...]:
        out = self.model.features(image)
        return out.fused, out.maps, self.heads(fused, maps, rois)


class _BasicGraph(_Halves):
    def forward(self, image: Tensor, fused: Tensor, rois: Tensor) -> tuple[Tensor, ...]:
        return self.model.features(image).fused, self.heads(fused, None, rois)


def export_onnx(checkpoint: Path, out: Path | None = None) -> Path:
    """Write the ONNX graph of ``checkpoint`` to ``out`` (default: beside it), atomically."""
    try:
        import onnx
        import onnxscript  # noqa: F401 - torch's exporter needs it
    except ImportError:
        raise SacropError(
            f"exporting a graph needs onnx and onnxscript: {INSTALL_TRAIN}"
        ) from None

    checkpoint = Path(checkpoint)
    out = Path(out) if out is not None else sibling(checkpoint, "onnx")
    ckpt = read_checkpoint(checkpoint)
    model = build_scorer(ckpt, "cpu")
    fold_batch_norms(model.backbone)  # ONNX Runtime would fold them too; a smaller file
    spatial = model.spatial is not None
    graph = (_SpatialGraph if spatial else _BasicGraph)(model).eval()

    example = torch.zeros(1, 3, 64, 96)
    with torch.inference_mode():
        feats = model.features(example)
    rois = torch.tensor([[0.0, 0.0, 0.0, 96.0, 64.0], [0.0, 8.0, 4.0, 60.0, 50.0]])
    dim = torch.export.Dim
    H, W = dim("H", min=1, max=MAX_SIDE_BLOCKS), dim("W", min=1, max=MAX_SIDE_BLOCKS)
    h, w = dim("h", min=1, max=MAX_SIDE_BLOCKS), dim("w", min=1, max=MAX_SIDE_BLOCKS)
    shapes: dict = {"image": {2: 32 * H, 3: 32 * W}, "fused": {2: 2 * h, 3: 2 * w}}
    args: tuple = (example, feats.fused)
    inputs, outputs = ["image", "fused"], ["fused_out"]
    if spatial:
        args, shapes["maps"] = (*args, feats.maps), None
        inputs.append("maps")
        outputs.append("maps_out")
    args, shapes["rois"] = (*args, rois), {0: dim("K", min=1, max=1 << 20)}
    inputs.append("rois")
    outputs.append("scores")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on its own internals
        program = torch.onnx.export(
            graph,
            args,
            dynamo=True,
            input_names=inputs,
            output_names=outputs,
            dynamic_shapes=shapes,
            opset_version=OPSET,
            optimize=True,
            verbose=False,
        )
    proto = _branches(program.model_proto, spatial, model.config.reduced_dim)
    meta = dict(ckpt.meta)
    for key, value in (
        ("sacrop_format", GRAPH_FORMAT),
        ("sacrop_format_version", str(GRAPH_FORMAT_VERSION)),
        ("sacrop_meta", json.dumps(meta)),
        ("sacrop_checkpoint_sha256", sha256_file(checkpoint)),
    ):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "sacrop"
    onnx.checker.check_model(proto)
    return atomic_write(out, lambda fh: fh.write(proto.SerializeToString()), durable=True)


def _branches(combined: Any, spatial: bool, channels: int) -> Any:
    """The exported graph (both halves side by side, every input needed by every run) rebuilt
    as an ``If`` whose branches are the halves: a run computes only the half it is asked for."""
    import onnx
    from onnx import TensorProto, helper, utils

    extractor = utils.Extractor(combined)
    maps = ["maps"] if spatial else []
    halves = {
        "encode": extractor.extract_model(
            ["image"], ["fused_out", *(["maps_out"] if spatial else [])]
        ).graph,
        "score": extractor.extract_model(["fused", *maps, "rois"], ["scores"]).graph,
    }

    def branch(name: str, empty: dict[str, list[int]]) -> onnx.GraphProto:
        """One half as a subgraph reading the outer inputs, with every output of the If: its own
        (renamed: a subgraph may not reuse an outer name) and the other half's, empty."""
        half = halves[name]
        nodes, outputs = list(half.node), []
        for out in combined.graph.output:
            local = f"{name}_{out.name}"
            if out.name in empty:
                value = helper.make_tensor(f"{local}_value", TensorProto.FLOAT, empty[out.name], [])
                nodes.append(helper.make_node("Constant", [], [local], value=value))
            else:
                nodes.append(helper.make_node("Identity", [out.name], [local]))
            outputs.append(helper.make_tensor_value_info(local, TensorProto.FLOAT, None))
        return helper.make_graph(
            nodes,
            name,
            [],
            outputs,
            initializer=list(half.initializer),
            value_info=list(half.value_info),
        )

    encode = branch("encode", {"scores": [0]})
    score = branch(
        "score",
        {"fused_out": [1, channels, 0, 0], **({"maps_out": [1, 2, 0, 0]} if spatial else {})},
    )
    zero = helper.make_tensor("zero_value", TensorProto.INT64, [], [0])
    nodes = [
        helper.make_node("Size", ["image"], ["image_size"]),
        helper.make_node("Constant", [], ["zero"], value=zero),
        helper.make_node("Greater", ["image_size", "zero"], ["has_image"]),
        helper.make_node(
            "If",
            ["has_image"],
            [o.name for o in combined.graph.output],
            then_branch=encode,
            else_branch=score,
        ),
    ]
    graph = helper.make_graph(
        nodes, "sacrop", list(combined.graph.input), list(combined.graph.output)
    )
    model = helper.make_model(graph, opset_imports=list(combined.opset_import))
    model.ir_version = combined.ir_version
    return model
