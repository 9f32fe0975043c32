"""Pillow's decompression-bomb check, switched off while sacrop's own limit applies.

Pillow's limit (``Image.MAX_IMAGE_PIXELS``) is process-wide and lower than sacrop's
``--max-pixels``, its error does not say which file, and it is checked not only on open but
also by ``Image.crop`` and by some plugins while seeking. sacrop compares the header size with
the caller's limit itself, before decoding, and runs every Pillow call on a photo inside
:func:`own_pixel_limit`, so that Pillow neither refuses nor warns about a photo sacrop accepted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from PIL import Image

# Reference-counted so that concurrent decodes in threads do not restore it under each other.
_limit_lock = threading.Lock()
_limit_users = 0
_limit_saved: int | None = None


@contextlib.contextmanager
def own_pixel_limit() -> Iterator[None]:
    """Pillow's check off for the block (and back as it was after the last block ends)."""
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
