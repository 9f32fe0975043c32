"""A decoded photo and the limits every decoder checks: what :mod:`sacrop_cli.io.imageio` and
:mod:`sacrop_cli.io.raw` share, in a module of its own so that neither imports the other's."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from sacrop_cli.errors import ImageError

MIN_SIDE = 32
"""Images with a shorter side are refused: no meaningful crop fits in them."""


@dataclass
class Photo:
    """A decoded photo, upright, with the metadata a crop should carry.

    ``image`` is in mode L, LA, RGB or RGBA. ``exif`` is the source's EXIF block as found in the
    file (None without one); ``warnings`` are complete one-line messages naming the file, and
    :func:`save_crop` appends its own (e.g. corrupt EXIF) once. A photo decoded through the JPEG
    draft (see :func:`~sacrop_cli.io.imageio.open_photo`) has ``scale`` full-size pixels per
    ``image`` pixel: boxes stay in full-size pixels.
    """

    path: Path
    image: Image.Image
    format: str
    exif: bytes | None = None
    icc_profile: bytes | None = None
    warnings: list[str] = field(default_factory=list)
    n_frames: int = 1
    xmp: bytes | None = None  # XMP packet (keywords, ratings...), orientation already upright
    orientation: int = 1  # the EXIF orientation the file was stored with
    from_file: bool = True  # False for an image given in memory: no file bytes to copy
    scale: int = 1  # 2, 4 or 8 after a draft decode
    full_size: tuple[int, int] | None = None  # upright full size, when ``scale`` > 1

    @property
    def size(self) -> tuple[int, int]:
        """Upright (width, height) at full resolution."""
        return self.full_size or self.image.size


# Pillow's decompression-bomb limit (Image.MAX_IMAGE_PIXELS) is process-wide and lower than
# DEFAULT_MAX_PIXELS, and its error does not say the size. We compare the header size with the
# caller's limit ourselves, before decoding, and switch Pillow's check off while our decodes run.
# Reference-counted so that concurrent decodes in threads do not restore it under each other.
_limit_lock = threading.Lock()
_limit_users = 0
_limit_saved: int | None = None


@contextlib.contextmanager
def own_pixel_limit() -> Iterator[None]:
    """Pillow's own size check off while the caller decodes (see above)."""
    global _limit_users, _limit_saved
    with _limit_lock:
        if _limit_users == 0:
            _limit_saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
        _limit_users += 1
    try:
        yield
    finally:
        with _limit_lock:
            _limit_users -= 1
            if _limit_users == 0:
                Image.MAX_IMAGE_PIXELS = _limit_saved


def check_size(path: Path | str, width: int, height: int, max_pixels: int | None) -> None:
    """ImageError naming the photo when its (header) size is over ``max_pixels`` or too small
    to crop; checked before any pixel is decoded."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(
            f"{path}: {width}x{height} pixels exceeds the limit of {max_pixels} "
            "(use --max-pixels to raise it)"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{path}: image too small ({width}x{height}; both sides must be at least "
            f"{MIN_SIDE} pixels)"
        )
