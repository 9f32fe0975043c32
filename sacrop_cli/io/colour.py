"""Colour modes and profiles: bringing any decoded image to the modes every output format
stores (L, LA, RGB, RGBA), with the ICC profile that still describes it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms

from sacrop_cli.errors import ImageError

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


def icc_space(icc: bytes | None) -> bytes:
    """ICC data colour space signature, e.g. b"RGB ", b"GRAY", b"CMYK" (b"" if unknown)."""
    return icc[16:20] if icc and len(icc) >= 20 else b""


def icc_fits(icc: bytes | None, mode: str) -> bool:
    """Whether an ICC profile describes images of ``mode`` (L/LA/RGB/RGBA)."""
    return icc_space(icc) == (b"GRAY" if mode in ("L", "LA") else b"RGB ")


def normalize_mode(
    im: Image.Image, icc: bytes | None, path: Path, notes: list[str]
) -> tuple[Image.Image, bytes | None]:
    """Bring ``im`` to L, LA, RGB or RGBA, which every output format can store (after at most
    dropping alpha), and return the ICC profile that still describes it (or None)."""
    mode = im.mode
    if (mode in ("L", "RGB") and not im.has_transparency_data) or mode in ("LA", "RGBA"):
        out = im
    elif mode == "CMYK":
        # With its profile, CMYK converts to true sRGB colours; without, approximately.
        out = None
        if icc_space(icc) == b"CMYK":
            try:
                srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
                source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                out = ImageCms.profileToProfile(im, source, srgb, outputMode="RGB")
                icc = srgb.tobytes()
            except (ImageCms.PyCMSError, OSError):
                notes.append(f"{path}: CMYK colour profile unusable, converted without it")
                icc = None
        if out is None:
            out = im.convert("RGB")
    elif mode in _SIXTEEN_BIT_MODES:
        # Pillow's convert("L") clips 16-bit values at 255; scale them instead.
        values = np.asarray(im).astype(np.int64).clip(0, 65535) >> 8
        out = Image.fromarray(values.astype(np.uint8), "L")
    else:
        gray = mode in _GRAY_MODES
        alpha = mode in _ALPHA_MODES or im.has_transparency_data
        target = ("LA" if gray else "RGBA") if alpha else ("L" if gray else "RGB")
        try:
            out = im.convert(target)
        except ValueError:
            raise ImageError(f"{path}: unsupported colour mode {mode}") from None
    if icc is not None and not icc_fits(icc, out.mode):
        notes.append(f"{path}: colour profile dropped (it does not match the {out.mode} pixels)")
        icc = None
    return out, icc
