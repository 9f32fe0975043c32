"""Facts of the model format that every checkpoint, graph and engine of this version shares.

Kept apart from the code that reads or runs the files, so that the checkpoint reader, the graph
exporter and the engines agree on one definition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: The network every checkpoint and graph of this version describes.
ARCHITECTURE = "sacrop.CropScorer"
#: How photos are sized and normalised for the network (ImageNet statistics).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_INPUT = {
    "short_side": 256,
    "max_long_side": 768,
    "multiple": 32,
    "mean": list(IMAGENET_MEAN),
    "std": list(IMAGENET_STD),
}
#: The metadata tag and version of an exported graph.
GRAPH_FORMAT = "sacrop-onnx"
GRAPH_FORMAT_VERSION = 1
#: A graph's input and output names, with (True) and without (False) the spatial-aware feature.
GRAPH_INPUTS = {True: ["image", "fused", "maps", "rois"], False: ["image", "fused", "rois"]}
GRAPH_OUTPUTS = {True: ["fused_out", "maps_out", "scores"], False: ["fused_out", "scores"]}


@dataclass(frozen=True)
class ScorerConfig:
    """Everything that changes the network's shape; stored in every checkpoint."""

    backbone: str = "mobilenet_v2"
    spatial: bool = True  # False gives the paper's basic model (GAIC-style content only)
    reduced_dim: int = 8  # channels of the fused map fed to RoI/RoD (GAIC's choice)
    align_size: int = 9  # RoIAlign / RoDAlign output size
    content_dim: int = 768
    grid: int = 16  # side of the activation maps and crop mask of the spatial-aware feature
    spatial_dim: int = 512
    embed_dim: int = 128
    dropout: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)
