"""Writing crops: the box of a decoded photo encoded as JPEG, PNG, WebP or TIFF with its
metadata (EXIF updated, ICC profile, XMP), whole or not at all, never over the source photo.

Reading photos is :mod:`sacrop_cli.io.imageio`.
"""

from __future__ import annotations

import contextlib
import operator
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor

from sacrop_cli.errors import ImageError, OutputError
from sacrop_cli.io.atomic import atomic_open
from sacrop_cli.io.exif import exif_for_crop
from sacrop_cli.io.imageio import FORMAT_FOR_EXTENSION, icc_fits
from sacrop_cli.io.photo import Photo, own_pixel_limit
from sacrop_cli.io.raw import save_tiff16

_METADATA_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})  # carry EXIF and ICC (not BMP)
# Modes each output format can store, and what to convert the others (L, LA, RGB, RGBA) to.
_SAVE_MODE = {
    "JPEG": {"L": "L", "LA": "L", "RGB": "RGB", "RGBA": "RGB"},
    "PNG": {"L": "L", "LA": "LA", "RGB": "RGB", "RGBA": "RGBA"},
    "TIFF": {"L": "L", "LA": "LA", "RGB": "RGB", "RGBA": "RGBA"},
    "WEBP": {"L": "RGB", "LA": "RGBA", "RGB": "RGB", "RGBA": "RGBA"},
    "BMP": {"L": "L", "LA": "RGBA", "RGB": "RGB", "RGBA": "RGBA"},
}
_LANCZOS = Image.Resampling.LANCZOS
_JPEG_MAX_EXIF = 65533  # one APP1 segment


def output_name(src: Path | str, ratio_label: str, rank: int, ext: str) -> str:
    """File name of a crop: ``IMG_0001.4x3.1.jpg`` for ratio "4:3", rank 1, ext ".jpg"."""
    label = ratio_label.replace(":", "x").replace("/", "x").replace(os.sep, "x")
    ext = ext if not ext or ext.startswith(".") else f".{ext}"
    return f"{Path(src).stem}.{label}.{rank}{ext}"


def fit_within(size: tuple[int, int], max_size: tuple[int, int]) -> tuple[int, int]:
    """Largest size with the ratio of ``size`` inside ``max_size`` (never larger than size)."""
    w, h = size
    scale = min(max_size[0] / w, max_size[1] / h)
    if scale >= 1:
        return size
    return (
        min(max_size[0], max(1, round(w * scale))),
        min(max_size[1], max(1, round(h * scale))),
    )


def _resized16(pixels: np.ndarray, max_size: tuple[int, int] | None) -> np.ndarray:
    """(H, W, 3) uint16 pixels shrunk to fit ``max_size`` like 8-bit crops (LANCZOS): channel by
    channel in floats, as Pillow has no 16-bit RGB mode."""
    height, width = pixels.shape[:2]
    size = (width, height) if max_size is None else fit_within((width, height), max_size)
    if size == (width, height):
        return pixels
    channels = [
        np.asarray(Image.fromarray(pixels[..., c].astype(np.float32), "F").resize(size, _LANCZOS))
        for c in range(3)
    ]
    return np.stack(channels, axis=-1).round().clip(0, 65535).astype(np.uint16)


def background_colour(colour: str) -> tuple[int, int, int]:
    """RGB of a colour name or ``#rrggbb``; ValueError naming it when Pillow knows no such
    colour."""
    try:
        return ImageColor.getrgb(colour)[:3]
    except ValueError:
        raise ValueError(f"unknown colour {colour!r} (a name such as white, or #rrggbb)") from None


def _flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """An LA or RGBA image composited on ``background``, as L or RGB: dropping alpha alone
    would show the colours hidden under the transparent pixels."""
    flat = Image.new("RGBA", image.size, (*background, 255))
    flat.alpha_composite(image.convert("RGBA"))
    return flat.convert(image.mode[:-1])


@dataclass
class CropImage:
    """A crop ready to be encoded (see :func:`prepare_crop`): its pixels, its format and the
    keywords of Pillow's ``save`` that carry the photo's metadata; or, for the TIFF crop of a
    RAW developed with 16 bits, its 16-bit pixels and EXIF."""

    photo: Photo
    image: Image.Image | None
    format: str
    params: dict[str, object]
    whole: bool  # the crop is the photo itself: its file's bytes are copied
    pixels16: np.ndarray | None = None


def prepare_crop(
    photo: Photo,
    box: tuple[int, int, int, int],
    out_path: Path | str,
    *,
    format: str | None = None,  # noqa: A002 - matches Pillow's save(format=...)
    quality: int = 95,
    max_size: tuple[int, int] | None = None,
    background: str = "white",
) -> CropImage:
    """Everything :func:`save_crop` does before encoding: the cropped, shrunk pixels in a mode
    the format stores, and the metadata. Decoding and this run on worker threads while the
    crops are encoded one after another (see :mod:`sacrop_cli.run.writers`)."""
    out_path = Path(out_path)
    fmt = (format or FORMAT_FOR_EXTENSION.get(out_path.suffix.lower(), "")).upper()
    if fmt == "JPG":
        fmt = "JPEG"
    if fmt not in _SAVE_MODE:
        raise OutputError(
            f"{out_path}: unsupported output format {format or out_path.suffix or '(none)'}"
        )

    fill = background_colour(background)
    x1, y1, x2, y2 = (operator.index(v) for v in box)
    width, height = photo.size
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ImageError(
            f"{photo.path}: crop box ({x1}, {y1}, {x2}, {y2}) is empty or outside the "
            f"{width}x{height} image"
        )
    pixels16 = getattr(photo, "pixels16", None)  # a RAW developed with bits=16
    if fmt == "TIFF" and pixels16 is not None:
        crop16 = _resized16(pixels16[y1:y2, x1:x2], max_size)
        exif, notes = exif_for_crop(photo.exif, crop16.shape[1], crop16.shape[0], source=photo.path)
        photo.warnings.extend(n for n in notes if n not in photo.warnings)
        return CropImage(photo, None, fmt, {"exif": exif}, False, pixels16=crop16)
    size = (x2 - x1, y2 - y1) if max_size is None else fit_within((x2 - x1, y2 - y1), max_size)
    with own_pixel_limit():  # Image.crop runs Pillow's bomb check again
        if photo.scale > 1:  # a draft decode: the box in its pixels, shrunk in one step
            s = photo.scale
            crop = photo.image.resize(size, _LANCZOS, box=(x1 / s, y1 / s, x2 / s, y2 / s))
        else:
            crop = photo.image.crop((x1, y1, x2, y2))
            if size != crop.size:
                crop = crop.resize(size, _LANCZOS)
    target_mode = _SAVE_MODE[fmt][crop.mode]
    if crop.mode in ("LA", "RGBA") and target_mode in ("L", "RGB"):
        crop = _flatten(crop, fill)
    if crop.mode != target_mode:
        crop = crop.convert(target_mode)
    crop.info = {}  # PNG and TIFF would otherwise copy stale info (e.g. an old ICC profile)

    params: dict[str, object] = {}
    if fmt == "JPEG":
        params.update(quality=quality, subsampling=0 if quality >= 90 else 2)
    elif fmt == "WEBP":
        params.update(quality=quality)
    if fmt in _METADATA_FORMATS:
        if photo.icc_profile and icc_fits(photo.icc_profile, crop.mode):
            params["icc_profile"] = photo.icc_profile
        exif, notes = exif_for_crop(photo.exif, crop.width, crop.height, source=photo.path)
        if exif is not None and fmt == "JPEG" and len(exif) > _JPEG_MAX_EXIF:
            notes.append(f"{photo.path}: EXIF dropped: {len(exif)} bytes do not fit in a JPEG")
            exif = None
        photo.warnings.extend(n for n in notes if n not in photo.warnings)
        if exif is not None:
            params["exif"] = exif
        if photo.xmp and fmt in ("JPEG", "WEBP"):
            params["xmp"] = photo.xmp
        elif photo.xmp and fmt == "PNG":
            from PIL.PngImagePlugin import PngInfo

            params["pnginfo"] = info = PngInfo()
            info.add_itxt("XML:com.adobe.xmp", photo.xmp.decode("utf-8", "replace"), zip=True)
        elif photo.xmp and fmt == "TIFF":
            params["tiffinfo"] = {700: photo.xmp}  # the XMP tag

    whole = (x1, y1, x2, y2) == (0, 0, width, height) and crop.size == (width, height)
    whole = whole and photo.from_file and photo.orientation == 1 and photo.n_frames == 1
    return CropImage(photo, crop, fmt, params, whole and fmt == photo.format)


def write_crop(crop: CropImage, out_path: Path | str, *, overwrite: bool = False) -> Path:
    """Encode a :func:`prepare_crop` crop to ``out_path``, whole or not at all (as
    :func:`save_crop`)."""
    out_path, photo = Path(out_path), crop.photo
    with contextlib.suppress(OSError):  # samefile fails when either file is missing
        if photo.from_file and os.path.samefile(out_path, photo.path):
            raise OutputError(f"{out_path}: is the source photo; refusing to overwrite it")
    if crop.pixels16 is not None:
        exif = crop.params.get("exif")
        assert exif is None or isinstance(exif, bytes)
        return save_tiff16(crop.pixels16, out_path, exif, overwrite=overwrite)
    if crop.whole:
        # the crop is the photo: its own bytes, rather than a larger, lossier re-encoding
        with (
            open(photo.path, "rb") as src,
            atomic_open(out_path, overwrite=overwrite, durable=True) as fh,
        ):
            shutil.copyfileobj(src, fh)
        return out_path
    assert crop.image is not None
    with atomic_open(out_path, overwrite=overwrite, durable=True) as fh:
        crop.image.save(fh, format=crop.format, **crop.params)
    return out_path


def save_crop(
    photo: Photo,
    box: tuple[int, int, int, int],
    out_path: Path | str,
    *,
    format: str | None = None,  # noqa: A002 - matches Pillow's save(format=...)
    quality: int = 95,
    max_size: tuple[int, int] | None = None,
    overwrite: bool = False,
    background: str = "white",
) -> Path:
    """Write the ``box`` region of ``photo`` (full resolution, upright) to ``out_path``.

    ``format`` defaults to the one of the extension. ``max_size=(w, h)`` shrinks the crop to fit
    (ratio kept, LANCZOS, never enlarged). The crop keeps the ICC profile and an updated EXIF
    block (see :func:`exif_for_crop`; its warnings are appended to ``photo.warnings``). Alpha is
    dropped for JPEG only, composited on ``background`` (a colour name or ``#rrggbb``). A RAW
    developed with 16 bits gives a 16-bit TIFF (:func:`sacrop_cli.io.raw.save_tiff16`). The file
    appears complete or not at all: an existing ``out_path`` is replaced only with
    ``overwrite``, and never when it is the source photo itself.
    Raises ImageError for a box outside the photo and OutputError when the crop cannot be
    written; returns ``out_path``: :func:`prepare_crop` then :func:`write_crop`.
    """
    prepared = prepare_crop(
        photo,
        box,
        out_path,
        format=format,
        quality=quality,
        max_size=max_size,
        background=background,
    )
    return write_crop(prepared, out_path, overwrite=overwrite)
