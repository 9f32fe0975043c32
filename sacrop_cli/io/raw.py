"""Camera RAW files (DNG, NEF, CR2...): an upright analysis image, a full develop, their EXIF.

LibRaw (bundled in the ``rawpy`` wheel) decodes every format, so no system tool is needed. As
everywhere in sacrop, boxes are in pixels of the **upright** image, here the developed one.
"""

from __future__ import annotations

import contextlib
import io
import math
import mmap
import os
import re
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np
import piexif
import rawpy
from PIL import Image

from sacrop_cli.errors import ImageError, one_line
from sacrop_cli.io.atomic import atomic_open
from sacrop_cli.io.exif import drop_mistyped_tags
from sacrop_cli.io.inputs import RAW_EXTENSIONS
from sacrop_cli.io.limits import DEFAULT_MAX_PIXELS
from sacrop_cli.io.photo import Photo, check_size, own_pixel_limit

# Camera white balance, sRGB primaries and the sRGB tone curve (rawpy's default gamma is
# BT.709's, not what sRGB viewers expect), and LibRaw's auto-brightening (1% of pixels may
# clip): RAW data carry no tone curve and keep highlight headroom, so without it photos come
# out darker than the camera's own JPEG.
_DEVELOP = {"use_camera_wb": True, "output_color": rawpy.ColorSpace.sRGB, "gamma": (2.4, 12.92),
            "no_auto_bright": False}  # fmt: skip

# LibRaw's sizes.flip -> the transpose that shows stored pixels upright. Its bits are 1: mirror
# columns, 2: mirror rows, 4: transpose, so 1-7 are EXIF orientations 2, 4, 3, 5, 8, 6, 7.
_T = Image.Transpose
_FLIP_TRANSPOSE = {1: _T.FLIP_LEFT_RIGHT, 2: _T.FLIP_TOP_BOTTOM, 3: _T.ROTATE_180, 4: _T.TRANSPOSE,
                   5: _T.ROTATE_90, 6: _T.ROTATE_270, 7: _T.TRANSVERSE}  # fmt: skip

# LibRaw's sizes.flip -> the EXIF orientation it stands for (the same table, as numbers)
_FLIP_ORIENTATION = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}

_ASPECT_TOLERANCE = 0.01
"""A preview whose aspect ratio differs more from the developed image's shows another frame
(e.g. a 16:9 JPEG of a 3:2 RAW): boxes found on it would not map onto the RAW's pixels."""

_E, _I = piexif.ExifIFD, piexif.ImageIFD
# What a crop keeps of the RAW's tags: camera, date, exposure, lens, place. Layout, DNG colour
# tags and maker notes describe the RAW's data (their offsets point into it): dropped.
_KEEP = {
    "0th": (_I.Make, _I.Model, _I.DateTime, _I.Artist, _I.Copyright),
    "Exif": (
        _E.ExposureTime, _E.FNumber, _E.ExposureProgram, _E.ISOSpeedRatings,
        _E.SensitivityType, _E.DateTimeOriginal, _E.DateTimeDigitized, _E.OffsetTime,
        _E.OffsetTimeOriginal, _E.OffsetTimeDigitized, _E.SubSecTimeOriginal,
        _E.ShutterSpeedValue, _E.ApertureValue, _E.ExposureBiasValue, _E.MaxApertureValue,
        _E.MeteringMode, _E.LightSource, _E.Flash, _E.FocalLength, _E.FocalLengthIn35mmFilm,
        _E.ExposureMode, _E.WhiteBalance, _E.BodySerialNumber, _E.LensSpecification,
        _E.LensMake, _E.LensModel,
    ),
}  # fmt: skip


def is_raw(path: Path | str) -> bool:
    """Whether ``path``'s name is that of a camera RAW file (sacrop develops it with LibRaw)."""
    return Path(path).suffix.lower() in RAW_EXTENSIONS


@dataclass
class RawAnalysis:
    """A RAW's reduced image for the network, RGB and upright; ``full_size`` is the upright
    (W, H) of :func:`develop_raw`'s image, whose pixels boxes are scaled to; ``source`` is
    "preview" (the camera's embedded JPEG) or "half-size" (a half-size develop)."""

    image: Image.Image
    full_size: tuple[int, int]
    source: str


@dataclass
class RawPhoto(Photo):
    """A developed RAW. ``image`` is 8-bit RGB; with ``bits=16`` ``pixels16`` holds the same
    pixels as an (H, W, 3) uint16 array, since Pillow has no 16-bit RGB mode (see
    :func:`save_tiff16`)."""

    pixels16: np.ndarray | None = None


def _reason(exc: BaseException) -> str:
    """LibRaw's message: rawpy gives it as bytes, or as an (errno, text) pair."""
    arg = exc.args[0] if len(exc.args) == 1 else None
    if isinstance(arg, bytes):
        return arg.decode("utf-8", "replace")
    if isinstance(arg, tuple) and len(arg) == 2:
        return str(arg[1])
    return one_line(exc)


def _full_size(raw: rawpy.RawPy) -> tuple[int, int]:
    """Upright (W, H) of LibRaw's full develop, from the header: it stretches non-square pixels
    (as LibRaw's stretch() rounds) and swaps the sides for flips with a transposition."""
    s = raw.sizes
    w, h = s.width, s.height
    if s.pixel_aspect > 1:
        w = int(w * s.pixel_aspect + 0.5)
    elif 0 < s.pixel_aspect < 1:
        h = int(h / s.pixel_aspect + 0.5)
    return (h, w) if s.flip & 4 else (w, h)


def _imread(path: Path) -> rawpy.RawPy:
    """rawpy encodes file names as strict UTF-8: a file with another name is handed over read."""
    try:
        return rawpy.imread(str(path))
    except UnicodeEncodeError:
        with open(path, "rb") as fh:
            return rawpy.imread(fh)


class _QuietLibRaw:
    """LibRaw prints some data errors on standard error itself (``x.dng: Unexpected end of
    file``), which sacrop reports as one line of its own: while LibRaw runs (in any thread),
    standard error goes to a temporary file; LibRaw's lines are then dropped and anything else
    written meanwhile is passed on, in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0
        self.saved: int | None = None
        self.capture: IO[bytes] | None = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self.lock:
            if self.users == 0:
                self._start()
            self.users += 1
        try:
            yield
        finally:
            with self.lock:
                self.users -= 1
                if self.users == 0:
                    self._stop()

    def _start(self) -> None:
        sys.stderr.flush()
        self.capture = tempfile.TemporaryFile()
        self.saved = os.dup(2)
        os.dup2(self.capture.fileno(), 2)

    def _stop(self) -> None:
        assert self.capture is not None and self.saved is not None
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.capture.seek(0)
        lines = self.capture.read().splitlines(keepends=True)
        self.capture.close()
        kept = b"".join(line for line in lines if not _LIBRAW_LINE.search(line))
        while kept:
            kept = kept[os.write(2, kept) :]


_LIBRAW_LINE = re.compile(
    rb"(Unexpected end of file|Corrupt data near 0x[0-9a-f]+|decoder table overflow|"
    rb"Bad data near|fread error)\s*$"
)
_quiet_libraw = _QuietLibRaw()


@contextlib.contextmanager
def _open_raw(path: Path, max_pixels: int | None) -> Iterator[rawpy.RawPy]:
    """:func:`_open_raw_loud` with LibRaw's own lines on standard error held back."""
    with _quiet_libraw(), _open_raw_loud(path, max_pixels) as raw:
        yield raw


@contextlib.contextmanager
def _open_raw_loud(path: Path, max_pixels: int | None) -> Iterator[rawpy.RawPy]:
    """LibRaw opened on ``path`` (header parsed, nothing decoded) after the checks
    ``imageio.open_photo`` makes; every failure is an ImageError of one line naming the file."""
    try:
        if os.path.isdir(path):
            raise ImageError(f"{path}: is a folder, not an image")
        if path.stat().st_size == 0:
            raise ImageError(f"{path}: empty file (0 bytes)")
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        raw = _imread(path)
    except (rawpy.LibRawError, OSError) as exc:
        raise ImageError(f"{path}: not a RAW file LibRaw can read ({_reason(exc)})") from None
    with raw:
        check_size(path, *_full_size(raw), max_pixels)
        try:
            yield raw
        except (rawpy.LibRawError, OSError) as exc:
            # LibRaw's I/O error while unpacking almost always means a file cut short
            io_error = isinstance(exc, (rawpy.LibRawIOError, OSError))
            what = "truncated or unreadable" if io_error else "unusable"
            raise ImageError(f"{path}: {what} RAW data ({_reason(exc)})") from exc


def _in_file(path: Path, data: bytes) -> bool:
    """Whether a preview's bytes are the file's, to their end. LibRaw hands a preview back
    at the length the file declares, even when the file is cut short: the missing tail is then
    uninitialised memory, and the crops would change from run to run. (LibRaw may put its own
    EXIF block in front, so the bytes are found from the middle on.)"""
    middle = len(data) // 2
    probe = data[middle : middle + 64]
    try:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            at = mm.find(probe)
            return at >= 0 and mm[at : at + len(data) - middle] == data[middle:]
    except (OSError, ValueError):
        return False


def _preview(
    raw: rawpy.RawPy, full: tuple[int, int], short_side: int, path: Path
) -> Image.Image | None:
    """The camera's embedded preview, upright and decoded at the smallest JPEG scale keeping
    ``short_side``; None when there is none, or it is smaller, shows another frame or runs
    past the end of the file."""
    try:
        thumb = raw.extract_thumb()
    except (rawpy.LibRawError, OSError):  # no preview, or one in a format LibRaw cannot give
        return None
    data = thumb.data if thumb.format == rawpy.ThumbFormat.JPEG else thumb.data.tobytes()
    if not _in_file(path, data):  # a bitmap LibRaw converted is not found either: developed
        return None
    flip = raw.sizes.flip
    try:
        with own_pixel_limit():  # the RAW's size was checked; Pillow's limit would only warn
            if thumb.format == rawpy.ThumbFormat.JPEG:
                im = Image.open(io.BytesIO(thumb.data))
            else:
                im = Image.fromarray(thumb.data)
            w, h = (im.height, im.width) if flip & 4 else im.size
            if min(w, h) < short_side or abs(w * full[1] / (h * full[0]) - 1) > _ASPECT_TOLERANCE:
                return None
            scale = short_side / min(w, h)
            im.draft("RGB", (math.ceil(im.width * scale), math.ceil(im.height * scale)))
            im = im.convert("RGB")
    except (OSError, ValueError, SyntaxError):  # a damaged preview: develop instead
        return None
    return im.transpose(_FLIP_TRANSPOSE[flip]) if flip in _FLIP_TRANSPOSE else im


def open_raw_for_analysis(
    path: Path | str, short_side: int, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> RawAnalysis:
    """``imageio.open_for_analysis`` for RAWs: the camera's embedded preview when its shorter side
    reaches ``short_side`` and it frames the photo like the develop (margins under 1% may
    differ: boxes map proportionally), else a half-size develop (demosaicking: slower)
    reduced by a whole factor keeping ``short_side``."""
    path = Path(path)
    with _open_raw(path, max_pixels) as raw:
        full = _full_size(raw)
        image = _preview(raw, full, short_side, path)
        if image is not None:
            return RawAnalysis(image, full, "preview")
        image = Image.fromarray(raw.postprocess(half_size=True, output_bps=8, **_DEVELOP))
    factor = max(1, min(image.size) // short_side)
    return RawAnalysis(image.reduce(factor) if factor > 1 else image, full, "half-size")


def develop_raw(
    path: Path | str, *, bits: int = 8, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> RawPhoto:
    """Develop the whole RAW upright (LibRaw applies the file's orientation) with the camera's
    white balance into sRGB; ``bits=16`` also keeps 16-bit pixels for TIFF crops. The EXIF
    block is :func:`raw_exif`'s; ``orientation`` is 1 since the pixels are upright."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, not {bits}")
    path = Path(path)
    with _open_raw(path, max_pixels) as raw:
        pixels = raw.postprocess(output_bps=bits, **_DEVELOP)
        exif, notes = _exif(path, raw)
    # LibRaw's 8-bit output is its 16-bit output shifted right by 8: no second develop needed
    image = Image.fromarray(pixels if bits == 8 else (pixels >> 8).astype(np.uint8))
    return RawPhoto(
        path=path,
        image=image,
        format=path.suffix[1:].upper() or "RAW",
        exif=exif,
        warnings=notes,
        pixels16=pixels if bits == 16 else None,
    )


def raw_orientation(path: Path | str) -> int:
    """The EXIF orientation (1-8) LibRaw reads from the RAW's header, nothing decoded: the frame
    of a Camera Raw crop in a sidecar depends on it."""
    with _open_raw(Path(path), None) as raw:
        return _FLIP_ORIENTATION.get(raw.sizes.flip, 1)


def raw_default_crop(path: Path | str) -> tuple[float, float, float, float] | None:
    """A DNG's DefaultCrop as ``(left, top, right, bottom)`` fractions of the stored pixels
    LibRaw develops, nothing decoded; None when it has none or it covers them all. Raw
    developers (darktable, Lightroom) show only this part, sacrop develops all of them: a
    sidecar's crop is said in this part's frame."""
    if Path(path).suffix.lower() != ".dng":
        return None
    with _open_raw(Path(path), None) as raw:
        s = raw.sizes
        origin = (s.crop_left_margin, s.crop_top_margin)
        if s.crop_width <= 0 or s.crop_height <= 0 or 0xFFFF in origin:  # LibRaw: not known
            return None
        left, top = s.crop_left_margin - s.left_margin, s.crop_top_margin - s.top_margin
        right, bottom = left + s.crop_width, top + s.crop_height
        if (left, top, right, bottom) == (0, 0, s.width, s.height):
            return None
        if left < 0 or top < 0 or right > s.width or bottom > s.height:
            return None  # not within the pixels: a crop sacrop cannot place
        return left / s.width, top / s.height, right / s.width, bottom / s.height


def raw_exif(path: Path | str) -> bytes | None:
    """EXIF block (``b"Exif\\0\\0"`` + TIFF) for crops of the RAW at ``path``, None when it
    tells nothing; see :func:`develop_raw`."""
    path = Path(path)
    with _open_raw(path, None) as raw:
        return _exif(path, raw)[0]


def _tiff_tags(path: Path) -> dict:
    """piexif's reading of a TIFF-structured RAW (DNG, NEF, CR2, ARW, PEF, SRW; ORF and RW2
    differ only in the magic number piexif ignores), mapped rather than read whole."""
    with open(path, "rb") as fh:
        if fh.read(2) not in (b"II", b"MM"):
            return {}
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return piexif.load(data)


def _preview_tags(raw: rawpy.RawPy) -> dict:
    """The EXIF of the embedded JPEG, which RAF, RW2 and others keep there. When the JPEG has
    none LibRaw writes one from its own reading, with garbage GPS references and rationals over
    10^6: only the camera's name is taken from it (its Software tag says "dcraw")."""
    thumb = raw.extract_thumb()
    if thumb.format != rawpy.ThumbFormat.JPEG:
        return {}
    tags = piexif.load(thumb.data)
    zeroth = tags["0th"]
    if zeroth.get(_I.Software, b"").startswith(b"dcraw"):
        return {"0th": {tag: zeroth[tag] for tag in (_I.Make, _I.Model) if tag in zeroth}}
    return tags


def _libraw_tags(raw: rawpy.RawPy) -> dict:
    """What LibRaw parsed itself, from any format (CR3, TIFF/EP tags in IFD0...): floats made
    back into the photo's rationals. Needs the RAW unpacked."""
    other, tags = raw.other, {}
    for tag, value in (
        (_E.ExposureTime, other.shutter_speed),
        (_E.FNumber, other.aperture),
        (_E.FocalLength, other.focal_length),
    ):
        if value > 0:
            frac = Fraction(value).limit_denominator(100_000)
            tags[tag] = (frac.numerator, frac.denominator)
    if other.iso_speed > 0:
        tags[_E.ISOSpeedRatings] = min(round(other.iso_speed), 65535)
    if other.timestamp.timestamp() > 0:
        tags[_E.DateTimeOriginal] = other.timestamp.strftime("%Y:%m:%d %H:%M:%S")
    if raw.lens.model:
        tags[_E.LensModel] = raw.lens.model
    return {"Exif": tags}


def _exif(path: Path, raw: rawpy.RawPy) -> tuple[bytes | None, list[str]]:
    """The tags of :data:`_KEEP`, each from the first source that has it, and the first GPS
    IFD found: the file's TIFF structure, the preview's EXIF, then LibRaw's own reading.
    Returns the block and warnings, as ``exif_for_crop`` does."""
    kept: dict[str, dict] = {"0th": {}, "Exif": {}, "GPS": {}}
    for source in (_tiff_tags, _preview_tags, _libraw_tags):
        try:
            found = source(path) if source is _tiff_tags else source(raw)
        except Exception:  # noqa: BLE001, S112 - piexif and LibRaw raise anything on odd data
            continue
        for ifd in ("0th", "Exif"):
            for tag, value in (found.get(ifd) or {}).items():
                if tag in _KEEP[ifd] and value not in (b"", ""):
                    kept[ifd].setdefault(tag, value)
        kept["GPS"] = kept["GPS"] or dict(found.get("GPS") or {})  # one source's, whole
    if not any(kept.values()):
        return None, []
    kept["0th"][_I.Orientation] = 1
    kept["Exif"][_E.ColorSpace] = 1  # developed into sRGB
    drop_mistyped_tags(kept)
    try:
        return piexif.dump(kept), []
    except (ValueError, TypeError, struct.error) as exc:  # e.g. a value out of its type's range
        return None, [f"{path}: corrupt EXIF dropped: {one_line(exc)}"]


def save_tiff16(
    pixels: np.ndarray, out_path: Path | str, exif: bytes | None = None, *, overwrite: bool = False
) -> Path:
    """Write (H, W, 3) uint16 RGB as an uncompressed 16-bit TIFF with ``exif``'s tags.

    Pillow cannot hold 16-bit RGB, so the file is laid out here: an EXIF block already is a
    TIFF header with IFDs, so piexif writes it with the image's layout tags added and the
    pixels follow as one big-endian strip (piexif writes big-endian). Atomic like crops.
    """
    height, width, _ = pixels.shape
    tiff = exif[6:] if exif and exif.startswith(b"Exif\x00\x00") else exif
    data = piexif.load(tiff) if tiff else {"0th": {}, "Exif": {}}
    data.update({"1st": {}, "thumbnail": None})
    data["0th"].update({
        _I.ImageWidth: width, _I.ImageLength: height, _I.BitsPerSample: (16, 16, 16),
        _I.Compression: 1, _I.PhotometricInterpretation: 2, _I.SamplesPerPixel: 3,  # RGB
        _I.PlanarConfiguration: 1, _I.RowsPerStrip: height, _I.StripOffsets: 0,
        _I.StripByteCounts: width * height * 6, _I.Orientation: 1,
    })  # fmt: skip
    # the offset is a LONG either way: the second dump has the first one's length; 4 zero bytes
    # end piexif's last IFD (see exif_for_crop) and 2 more keep the strip word-aligned
    head_len = len(piexif.dump(data)) - 6 + 4
    head_len += head_len % 2
    data["0th"][_I.StripOffsets] = head_len
    head = piexif.dump(data)[6:]
    with atomic_open(out_path, overwrite=overwrite, durable=True) as fh:
        fh.write(head.ljust(head_len, b"\x00"))
        fh.write(np.ascontiguousarray(pixels, dtype=">u2").tobytes())
    return Path(out_path)
