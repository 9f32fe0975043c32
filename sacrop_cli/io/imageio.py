"""Decoding photos upright and encoding their crops with the photo's metadata.

Every box here is ``(x1, y1, x2, y2)`` in pixels of the **upright** image (after the EXIF
Orientation is applied) with exclusive ends. Sources are only ever opened for reading; crops are
written through :mod:`sacrop_cli.io.atomic`.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from sacrop_cli.errors import ImageError
from sacrop_cli.io.limits import DEFAULT_MAX_PIXELS
from sacrop_cli.io.photo import Photo, check_size, own_pixel_limit
from sacrop_cli.io.raw import (
    RAW_EXTENSIONS,
    develop_raw,
    is_raw,
    open_raw_for_analysis,
    raw_default_crop,
    raw_orientation,
)

try:  # HEIC/HEIF photos from phones
    from pillow_heif import register_heif_opener
except ImportError:  # an install without it reads every other format
    pass
else:
    register_heif_opener()

FORMAT_FOR_EXTENSION = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}

#: Formats read but not written, and what their crops become (RAWs: JPEGs).
_READ_ONLY_EXTENSIONS = {
    ".gif": ".png",
    ".heic": ".jpg",
    ".heif": ".jpg",
    **dict.fromkeys(RAW_EXTENSIONS, ".jpg"),
}
_EXTENSION_FOR_FORMAT = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "TIFF": ".tif",
    "BMP": ".bmp",
    "GIF": ".png",
    "HEIF": ".jpg",
}

_GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})


# ---------------------------------------------------------------------------------------------
# Reading


def _orientation(im: Image.Image) -> int:
    """EXIF orientation (1-8) from the header; 1 when missing or unreadable."""
    try:
        value = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a malformed EXIF block must not stop the crop
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _upright_header_size(im: Image.Image) -> tuple[int, int]:
    """Upright (width, height) known from the header alone.

    Pillow reports the stored size, except for TIFF, which its plugin turns upright while
    loading and therefore already reports upright.
    """
    w, h = im.size
    if im.format != "TIFF" and _orientation(im) >= 5:
        return h, w
    return w, h


@contextlib.contextmanager
def _open_checked(path: Path, max_pixels: int | None) -> Iterator[Image.Image]:
    """Open ``path`` lazily after checking what can be checked without decoding.

    Raises ImageError (one line naming the file) for missing files, folders, empty files,
    non-images, images over ``max_pixels`` or under :data:`MIN_SIDE`; decoding errors inside
    the ``with`` block become "truncated or corrupt image data".
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if os.path.isdir(path):
        raise ImageError(f"{path}: is a folder, not an image")
    if st.st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")

    with own_pixel_limit():
        try:
            im = Image.open(path)
        except UnidentifiedImageError:
            raise ImageError(f"{path}: cannot identify image file (not an image?)") from None
        except OSError as exc:
            raise ImageError(f"{path}: cannot read: {exc.strerror or exc}") from None
        with im:
            check_size(path, *_upright_header_size(im), max_pixels)
            try:
                yield im
            except ImageError:
                raise
            except Exception as exc:  # noqa: BLE001
                # Pillow: "image file is truncated", "broken data stream", "Truncated File
                # Read"; damaged files make its plugins raise anything (IndexError counting the
                # frames of a cut GIF...). We refuse rather than crop a half-grey photo.
                raise ImageError(f"{path}: truncated or corrupt image data") from exc


def _upright(im: Image.Image, path: Path, notes: list[str]) -> Image.Image:
    """``im`` decoded and turned upright by Pillow's exif_transpose, in place: the pixels are
    copied only when the orientation asks for a turn (a copy of a 12 MP photo costs as much as
    encoding its crop)."""
    im.load()
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except (KeyError, ValueError, TypeError, SyntaxError, struct.error):
        notes.append(f"{path}: unreadable EXIF orientation ignored")
    return im


def _draft(im: Image.Image, reduce: int) -> int:
    """Ask a JPEG to decode at 1/2, 1/4 or 1/8 of its size (the largest not above ``reduce``)
    through its DCT; the scale it will decode at (1 for other formats)."""
    if reduce < 2 or im.format != "JPEG":
        return 1
    w, h = im.size
    drafted = im.draft(im.mode, (max(1, w // reduce), max(1, h // reduce)))
    return round(w / drafted[1][2]) if drafted else 1


def _icc_space(icc: bytes | None) -> bytes:
    """ICC data colour space signature, e.g. b"RGB ", b"GRAY", b"CMYK" (b"" if unknown)."""
    return icc[16:20] if icc and len(icc) >= 20 else b""


def icc_fits(icc: bytes | None, mode: str) -> bool:
    """Whether an ICC profile describes images of ``mode`` (L/LA/RGB/RGBA)."""
    return _icc_space(icc) == (b"GRAY" if mode in ("L", "LA") else b"RGB ")


def _normalize_mode(
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
        if _icc_space(icc) == b"CMYK":
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


def open_photo(
    path: Path | str,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    bits: int = 8,
    reduce: int = 1,
) -> Photo:
    """Decode the first frame of ``path`` at full resolution, upright.

    The size limit is checked on the header before any decoding; ``max_pixels=None`` removes
    it. Truncated files are refused (ImageError "truncated or corrupt image data") instead of
    being completed with grey. For animated or multi-page files the first frame is used, with a
    warning. A camera RAW is developed (:func:`sacrop_cli.io.raw.develop_raw`); ``bits=16``
    keeps its 16-bit pixels too, for TIFF crops. ``reduce`` (2, 4 or 8) decodes a JPEG at that
    fraction of its size or a little more (``Photo.scale``), for crops that are to be shrunk at
    least as much; other formats ignore it.
    """
    if is_raw(path):
        return develop_raw(path, bits=bits, max_pixels=max_pixels)
    path = Path(path)
    notes: list[str] = []
    with _open_checked(path, max_pixels) as im:
        full = _upright_header_size(im)
        scale = _draft(im, reduce)
        fmt = im.format or ""
        n_frames = getattr(im, "n_frames", 1)
        if n_frames > 1:
            notes.append(
                f"{path}: animated image ({n_frames} frames): only the first frame is used"
            )
        exif = im.info.get("exif") or (_tiff_exif(im) if fmt == "TIFF" else None)
        icc = im.info.get("icc_profile") or None
        orientation = _orientation(im)
        upright = _upright(im, path, notes)
    image, icc = _normalize_mode(upright, icc, path, notes)
    return Photo(
        path=path,
        image=image,
        format=fmt,
        exif=bytes(exif) if exif else None,
        icc_profile=icc,
        warnings=notes,
        n_frames=n_frames,
        xmp=_xmp(upright.info),
        orientation=orientation,
        scale=scale,
        full_size=full if scale > 1 else None,
    )


def _tiff_exif(im: Image.Image) -> bytes | None:
    """A TIFF's EXIF: its own tags (the camera's among the layout's) and sub-IFDs, which
    Pillow leaves out of ``info``; :func:`exif_for_crop` drops the layout tags."""
    try:
        exif = im.getexif()
        return exif.tobytes() if exif else None
    except Exception:  # noqa: BLE001 - a malformed EXIF block must not stop the crop
        return None


def _xmp(info: dict) -> bytes | None:
    """The XMP packet Pillow read (JPEG and WebP give bytes, PNG an iTXt string), as bytes."""
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    return xmp.encode() if isinstance(xmp, str) else xmp


def photo_from_image(image: Image.Image, name: str = "image") -> Photo:
    """A :class:`Photo` of an image in memory (already upright), with the metadata it carries."""
    notes: list[str] = []
    icc = image.info.get("icc_profile") or None
    exif = image.info.get("exif")
    normal, icc = _normalize_mode(image, icc, Path(name), notes)
    return Photo(
        path=Path(name),
        image=normal,
        format=image.format or "",
        exif=bytes(exif) if exif else None,
        icc_profile=icc,
        warnings=notes,
        xmp=_xmp(image.info),
        from_file=False,
    )


def known_crop_extension(path: Path | str) -> str | None:
    """The extension of ``path``'s crops when no format is asked for, as its name tells: its
    own where sacrop writes that format, else the nearest it writes (GIF -> PNG, HEIC -> JPEG);
    None for a name with no known extension."""
    ext = Path(path).suffix.lower()
    if ext in FORMAT_FOR_EXTENSION:
        return ext
    return _READ_ONLY_EXTENSIONS.get(ext)


def crop_extension(path: Path | str) -> str:
    """:func:`known_crop_extension`, found from the file's content when its name does not tell."""
    known = known_crop_extension(path)
    if known is not None:
        return known
    try:
        with own_pixel_limit(), Image.open(path) as im:
            fmt = im.format or ""
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        fmt = ""  # the photo itself will fail to decode, with its own message
    return _EXTENSION_FOR_FORMAT.get(fmt, ".png")


def open_for_analysis(
    path: Path | str, short_side: int, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> tuple[Image.Image, tuple[int, int]]:
    """Decode ``path`` cheaply for the network: upright RGB, not resized exactly.

    JPEGs are decoded with ``Image.draft`` at the smallest DCT scale (1/2, 1/4, 1/8) that keeps
    the shorter side at least ``short_side``; other formats at full size. Images already smaller
    come back as they are. Returns ``(rgb_image, (W, H))`` where ``(W, H)`` is the full-resolution
    upright size: boxes are always expressed in those pixels. A camera RAW gives its embedded
    preview or a half-size develop (:func:`sacrop_cli.io.raw.open_raw_for_analysis`).
    """
    if is_raw(path):
        raw = open_raw_for_analysis(path, short_side, max_pixels=max_pixels)
        return raw.image, raw.full_size
    path = Path(path)
    with _open_checked(path, max_pixels) as im:
        full = _upright_header_size(im)
        w, h = im.size  # stored (not yet rotated) size
        drafted = im.format == "JPEG" and min(w, h) > short_side
        if drafted:
            # draft works on the stored image; scaling both stored sides keeps the short side
            # short after rotation, so orientations 5-8 need no special case here.
            scale = short_side / min(w, h)
            im.draft("RGB", (math.ceil(w * scale), math.ceil(h * scale)))
        notes: list[str] = []
        upright = _upright(im, path, notes)
    image, _ = _normalize_mode(upright, None, path, notes)
    rgb = image if image.mode == "RGB" else image.convert("RGB")  # convert() would copy an RGB one
    return rgb, full if drafted else upright.size


def stored_orientation(path: Path | str) -> int:
    """The EXIF orientation (1-8) ``path`` is stored with, from its header alone (1 when it
    has none or cannot be read: the decoders say what is wrong with the file)."""
    if is_raw(path):
        return raw_orientation(path)
    try:
        with own_pixel_limit(), Image.open(path) as im:
            return _orientation(im)
    except (OSError, UnidentifiedImageError, ValueError):
        return 1


#: The last bytes of a whole file of each format sacrop writes with such an end.
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_END = b"\xff\xd9"


def is_whole_image(path: Path | str, size: tuple[int, int] | None = None) -> bool:
    """Whether ``path`` is a whole image file (of ``size`` when given): a crop written to its
    end, not one emptied, cut short, overwritten or replaced by a folder. Cheap: the header,
    then the end (JPEG's end marker, PNG's IEND, WebP's RIFF length); formats with no end to
    check (TIFF) are decoded in full."""
    try:
        if not os.path.isfile(path):
            return False
        with own_pixel_limit(), Image.open(path) as im:
            if size is not None and im.size != tuple(size):
                return False
            with open(path, "rb") as fh:
                length = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, length - len(_PNG_END)))
                tail = fh.read()
                fh.seek(4)
                riff = fh.read(4)
            if im.format == "JPEG":
                return tail.endswith(_JPEG_END)
            if im.format == "PNG":
                return tail.endswith(_PNG_END)
            if im.format == "WEBP":
                declared = struct.unpack("<I", riff)[0] + 8
                return declared == length or declared + 1 == length  # a pad byte
            im.load()
            return True
    except (OSError, ValueError, SyntaxError, struct.error, Image.DecompressionBombError):
        return False


def default_crop(path: Path | str) -> tuple[float, float, float, float] | None:
    """The part of the stored pixels raw developers show, when it is not all of them (a DNG's
    DefaultCrop: :func:`~sacrop_cli.io.raw.raw_default_crop`); None for other photos."""
    return raw_default_crop(path) if is_raw(path) else None
