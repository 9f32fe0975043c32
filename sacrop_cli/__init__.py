"""sacrop: photo cropping with spatial-aware features and rank consistency (CVPR 2023).

``Cropper`` is imported lazily so that ``import sacrop_cli`` (and ``sacrop --help``) stays
fast and does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sacrop_cli._version import __version__

if TYPE_CHECKING:
    from sacrop_cli.api import Crop, CroppedImage, Cropper

__all__ = ["Crop", "CroppedImage", "Cropper", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Cropper", "Crop", "CroppedImage"):
        from sacrop_cli import api

        return getattr(api, name)
    raise AttributeError(f"module 'sacrop_cli' has no attribute {name!r}")
