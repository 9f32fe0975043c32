"""sacrop: photo cropping with spatial-aware features and rank consistency (CVPR 2023).

``Cropper`` and its results load on first use, so that ``import sacrop_cli`` (and ``sacrop
--help``) stays fast and loads neither numpy, Pillow nor ONNX Runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sacrop_cli._lazy import lazy_module
from sacrop_cli._version import __version__

if TYPE_CHECKING:
    from sacrop_cli import api
    from sacrop_cli.api import Crop, CroppedImage, Cropper
else:
    api = lazy_module("sacrop_cli.api")

__all__ = ["Crop", "CroppedImage", "Cropper", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Cropper", "Crop", "CroppedImage"):
        return getattr(api, name)
    raise AttributeError(f"module 'sacrop_cli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
