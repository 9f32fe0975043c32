"""Helpers of the tests (not fixtures: those are in conftest.py): paths, synthetic images and
EXIF blocks, the CLI in process, a torch-free stand-in engine, folders of photos and what runs
leave in them, and real DNGs. Tests import them directly: ``from helpers import EXAMPLES``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import piexif
from PIL import Image

if TYPE_CHECKING:
    from pidng.dng import dngIFD, dngTag

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"  # real photos with licences (examples/CREDITS)
FIXTURES = REPO / "tests" / "fixtures"  # small FCDB and GAICD samples


MAKE, MODEL = b"Canon", b"EOS 5D Mark IV"
DATE = b"2021:06:13 17:45:02"


def exif_bytes(orientation: int = 1, thumbnail: bool = False) -> bytes:
    data: dict = {
        "0th": {
            piexif.ImageIFD.Make: MAKE,
            piexif.ImageIFD.Model: MODEL,
            piexif.ImageIFD.Orientation: orientation,
        },
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: DATE,
            piexif.ExifIFD.PixelXDimension: 9999,
            piexif.ExifIFD.PixelYDimension: 9999,
        },
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N"},
    }
    if thumbnail:
        buf = Image.new("RGB", (32, 24), "red")
        out = io.BytesIO()
        buf.save(out, "JPEG")
        data["1st"] = {piexif.ImageIFD.Compression: 6}
        data["thumbnail"] = out.getvalue()
    # piexif omits the next-IFD offset of the last sub-IFD, which makes Pillow warn.
    return piexif.dump(data) + b"\x00\x00\x00\x00"


def pattern(width: int = 64, height: int = 48, mode: str = "RGB") -> Image.Image:
    """Image whose every pixel differs from its neighbours, so flips and rotations show."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x * 7 + y * 13) % 256], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB").convert(mode)


def run(*args: object, stdin: bytes | None = None):
    """``sacrop ARGS...`` in process (click's CliRunner), exceptions not swallowed; ``stdin``
    is what standard input gives."""
    from click.testing import CliRunner

    from sacrop_cli.cli.main import main

    return CliRunner().invoke(main, [str(a) for a in args], input=stdin, catch_exceptions=False)


#: Set (to 1) by .ci/run: a system tool or optional dependency a test needs that is missing
#: then fails the test instead of skipping it, so that CI is never green for tests that did not
#: run (conftest.py fails any other skip too).
REQUIRE_ALL = "SACROP_REQUIRE_ALL"


def require_all() -> bool:
    return os.environ.get(REQUIRE_ALL, "") not in ("", "0")


def missing(what: str, how: str) -> NoReturn:
    """Skip the test, which needs ``what`` (``how`` says how to get it), or fail it under
    ``SACROP_REQUIRE_ALL=1``. Every test needing a tool or package calls this, never
    ``pytest.skip`` itself."""
    import pytest

    if require_all():
        pytest.fail(f"{what} is missing ({how}) and {REQUIRE_ALL}=1: every test must run")
    pytest.skip(f"{what} is missing: {how}")


def require_tool(name: str, how: str) -> str:
    """The path of the program ``name`` (``/usr/bin/chromium`` or ``exiftool``), or
    :func:`missing`."""
    import shutil

    found = shutil.which(name)
    if found is None:
        missing(name, how)
    return found


def require_module(name: str, how: str) -> Any:
    """The module ``name`` imported, or :func:`missing` (``pytest.importorskip``, but strict
    under ``SACROP_REQUIRE_ALL``)."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"the Python package of {name}", how)


APT_TOOLS = "apt-get install chromium chromium-driver libimage-exiftool-perl darktable"


def exiftool(path: Path) -> dict:
    """What exiftool reads back of a sidecar: the independent check that other tools understand
    it (:func:`missing` without exiftool)."""
    import json
    import subprocess

    program = require_tool("exiftool", APT_TOOLS)
    tags = ["-XMP-crs:all", "-XMP-tiff:all", "-XMP-iptcExt:ImageRegion", "-XMP-xmp:Rating"]
    tags.append("-XMP-dc:Subject")
    done = subprocess.run(
        [program, "-j", "-n", "-struct", *tags, str(path)],
        capture_output=True,
        check=True,
        text=True,
    )
    return json.loads(done.stdout)[0]


def read_jsonl(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- a stand-in engine -------------------------------------------------------------------------


class DistanceEngine:
    """An engine that scores a crop by minus its L1 distance (photo pixels) to ``target``: a
    known landscape, so that the search and the pipeline can be tested exactly and without
    torch. Its features are the network input sizes; rois come in input pixels, which
    ``scale`` (input pixels per photo pixel) turns back into photo pixels."""

    name, device, spatial, threads = "distance", "cpu", False, 1

    def __init__(self, target: tuple[int, int, int, int], scale: float) -> None:
        from sacrop_cli.model.preprocess import DEFAULT_INPUT

        self.target, self.scale = np.asarray(target, np.float32), scale
        self.path, self.meta = Path("distance"), {"input": DEFAULT_INPUT}

    def encode(self, images):
        return len(images)

    def scores(self, features, rois):
        return -np.abs(rois[:, 1:] / self.scale - self.target).sum(1)

    def maps(self, features):
        return None

    def workers(self):
        return contextlib.nullcontext(1)


# -- folders of photos, and what runs leave in them ---------------------------------------------


def small_photos(folder: Path, count: int, size: tuple[int, int] = (160, 120)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        rng = np.random.default_rng(i)
        pixels = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
        path = folder / f"p{i:02d}.jpg"
        Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """(SHA-256, mtime) of every file under ``root``, symlinks not followed (there is a loop)."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                found[path.relative_to(root).as_posix()] = (
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                    path.stat().st_mtime_ns,
                )
    return found


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def leftovers(root: Path) -> list[str]:
    """Temporary or hidden files: a finished, interrupted or killed-and-rerun run leaves none."""
    return [
        name
        for name in files_under(root)
        if name.endswith(".tmp") or any(part.startswith(".") for part in name.split("/"))
    ]


def summary_count(stderr: str, label: str) -> int:
    match = re.search(rf"^\s*{re.escape(label)}.*?\s(\d+)\s*$", stderr, re.MULTILINE)
    assert match, (label, stderr)
    return int(match.group(1))


# -- real RAW files: DNGs written with pidng from a photo turned into a Bayer mosaic -------------
# (pidng is imported where it is used: it may not be installed)

DNG_MAKE, DNG_MODEL, DATETIME = "Sacrop", "Test Camera T1", "2024:05:06 07:08:09"
EXPOSURE = {  # piexif's Exif IFD form
    piexif.ExifIFD.ExposureTime: (1, 250),
    piexif.ExifIFD.FNumber: (28, 10),
    piexif.ExifIFD.ISOSpeedRatings: 400,
    piexif.ExifIFD.FocalLength: (50, 1),
}
GPS = {  # piexif's GPS IFD form: 48°51'24.42" N, 2°21'7.29" E, 35 m
    piexif.GPSIFD.GPSVersionID: (2, 3, 0, 0),
    piexif.GPSIFD.GPSLatitudeRef: b"N",
    piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (2442, 100)),
    piexif.GPSIFD.GPSLongitudeRef: b"E",
    piexif.GPSIFD.GPSLongitude: ((2, 1), (21, 1), (729, 100)),
    piexif.GPSIFD.GPSAltitudeRef: 0,
    piexif.GPSIFD.GPSAltitude: (35, 1),
}

# EXIF orientation -> the transpose storing upright pixels so that the orientation shows them
# upright again (the inverse of ImageOps.exif_transpose's): how a camera stores an upright image.
STORE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}

# XYZ (D65) -> linear sRGB as the DNG ColorMatrix1: LibRaw's camera RGB is then linear sRGB and
# its develop gives back the photo.
_XYZ_TO_SRGB = (
    (3.2406, -1.5372, -0.4986),
    (-0.9689, 1.8758, 0.0415),
    (0.0557, -0.2040, 1.0570),
)
_code = np.arange(256) / 255
# sRGB code value -> linear light over the full 16-bit range
_LINEAR = np.round(
    np.where(_code <= 0.04045, _code / 12.92, ((_code + 0.055) / 1.055) ** 2.4) * 65535
).astype(np.uint16)


def _pidng_type(piexif_type: int):
    """pidng's type of a piexif tag type number."""
    from pidng.dng import Type

    return {
        1: Type.Byte,
        2: Type.Ascii,
        3: Type.Short,
        4: Type.Long,
        5: Type.Rational,
        7: Type.Undefined,
        9: Type.Slong,
        10: Type.Srational,
    }[piexif_type]


def _tag(tag: tuple, value: object) -> dngTag:
    """A pidng tag from a value in piexif's form (int, str, bytes, rational pair, tuples)."""
    from pidng.dng import Type, dngTag

    kind = tag[1]
    if kind == Type.Ascii:
        value = value.decode() if isinstance(value, bytes) else value
    elif isinstance(value, bytes):
        value = list(value)
    elif kind in (Type.Rational, Type.Srational):
        value = list(value) if isinstance(value[0], tuple) else [value]
    elif not isinstance(value, list):
        value = list(value) if isinstance(value, tuple) else [value]
    return dngTag(tag, value)


def _piexif_tag(ifd: str, number: int, value: object) -> dngTag:
    return _tag((number, _pidng_type(piexif.TAGS[ifd][number]["type"])), value)


def _sub_ifd(number: int, ifd: dngIFD) -> dngTag:
    """A tag pointing at ``ifd``: pidng 4.0.9's own IFD type fails to encode (str + bytes), so
    a LONG placeholder carries the sub-IFD, which pidng's layout and writer then handle."""
    from pidng.dng import Type, dngTag

    tag = dngTag((number, Type.Long), [0])
    tag.subIFD = ifd
    return tag


def _ifd(tags: list[dngTag]) -> dngIFD:
    from pidng.dng import dngIFD

    ifd = dngIFD()
    ifd.tags.extend(tags)
    return ifd


def _stored(upright: Image.Image, orientation: int) -> Image.Image:
    """RGB pixels as a camera stores them for ``orientation`` (FLIP_LEFT_RIGHT is 0: no truth
    test on the transpose)."""
    rgb = upright.convert("RGB")
    return rgb.transpose(STORE[orientation]) if orientation in STORE else rgb


def make_dng(
    path: Path | str,
    photo: Image.Image | np.ndarray,
    *,
    orientation: int = 1,
    make: str | None = DNG_MAKE,
    model: str | None = DNG_MODEL,
    datetime: str | None = DATETIME,
    exposure: dict[int, object] | None = EXPOSURE,
    gps: dict[int, object] | None = GPS,
    preview: bool | Image.Image = True,
    preview_jpeg: bool = True,
    exif_in_ifd0: bool = False,
    default_scale: tuple[int, int] | None = None,
    default_crop: tuple[int, int, int, int] | None = None,
) -> Path:
    """Write a DNG whose develop (camera white balance, sRGB) gives back ``photo`` (upright RGB).

    Its RGGB mosaic is stored turned for ``orientation``, with the camera's tags; ``exposure``
    and ``gps`` are piexif-style dicts (Exif and GPS IFDs). ``preview`` embeds ``photo`` (True)
    or another upright image in a SubIFD, stored turned like the mosaic as cameras do: a JPEG,
    or uncompressed RGB when not ``preview_jpeg``. ``exif_in_ifd0`` puts the exposure tags in
    IFD0 (TIFF/EP style) rather than an Exif IFD. ``default_scale=(h, v)`` declares non-square
    pixels (DNG DefaultScale: developers stretch them). ``default_crop=(x, y, w, h)``, in stored
    pixels, is the DNG DefaultCropOrigin and DefaultCropSize. Needs pidng.
    """
    from pidng.defs import (
        CalibrationIlluminant,
        CFAPattern,
        DNGVersion,
        PhotometricInterpretation,
    )
    from pidng.dng import DNG, Tag

    upright = photo if isinstance(photo, Image.Image) else Image.fromarray(photo)
    rgb = np.asarray(_stored(upright, orientation))
    height, width = rgb.shape[:2]
    mosaic = np.empty((height, width), np.uint16)
    for dy, dx, channel in ((0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 2)):  # RGGB
        mosaic[dy::2, dx::2] = _LINEAR[rgb[dy::2, dx::2, channel]]

    dng = DNG()
    dng.ImageDataStrips.append(mosaic.tobytes())  # pidng writes little-endian
    main = [
        _tag(Tag.NewSubfileType, 0),
        _tag(Tag.ImageWidth, width),
        _tag(Tag.ImageLength, height),
        _tag(Tag.BitsPerSample, 16),
        _tag(Tag.Compression, 1),
        _tag(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        _tag(Tag.SamplesPerPixel, 1),
        _tag(Tag.PlanarConfiguration, 1),
        _tag(Tag.RowsPerStrip, height),
        _tag(Tag.StripByteCounts, mosaic.nbytes),
        _tag(Tag.Orientation, orientation),
        _tag(Tag.CFARepeatPatternDim, [2, 2]),
        _tag(Tag.CFAPattern, CFAPattern.RGGB),
        _tag(Tag.BlackLevel, 0),
        _tag(Tag.WhiteLevel, 65535),
        _tag(Tag.ColorMatrix1, [(round(v * 10000), 10000) for row in _XYZ_TO_SRGB for v in row]),
        _tag(Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        _tag(Tag.AsShotNeutral, [(1, 1)] * 3),
        _tag(Tag.DNGVersion, DNGVersion.V1_4),
        _tag(Tag.DNGBackwardVersion, DNGVersion.V1_0),
        _tag(Tag.UniqueCameraModel, f"{make} {model}"),
    ]
    offsets = [_tag(Tag.StripOffsets, 0)]
    main.append(offsets[0])
    for tag, value in ((Tag.Make, make), (Tag.Model, model), (Tag.DateTime, datetime)):
        if value is not None:
            main.append(_tag(tag, value))
    exif = [_piexif_tag("Exif", n, v) for n, v in (exposure or {}).items()]
    if datetime is not None:
        exif.append(_tag(Tag.DateTimeOriginal, datetime))
    if exif_in_ifd0:
        main.extend(exif)
    elif exif:
        main.append(_sub_ifd(piexif.ImageIFD.ExifTag, _ifd(exif)))
    if default_scale is not None:
        main.append(_tag(Tag.DefaultScale, [(default_scale[0], 1), (default_scale[1], 1)]))
    if default_crop is not None:
        main.append(_tag(Tag.DefaultCropOrigin, list(default_crop[:2])))
        main.append(_tag(Tag.DefaultCropSize, list(default_crop[2:])))
    if gps:
        gps_tags = [_piexif_tag("GPS", n, v) for n, v in gps.items()]
        main.append(_sub_ifd(piexif.ImageIFD.GPSTag, _ifd(gps_tags)))
    if preview is not False:
        shown = upright if preview is True else preview
        stored = _stored(shown, orientation)
        buf = io.BytesIO()
        if preview_jpeg:
            stored.save(buf, "JPEG", quality=90)
        else:
            buf.write(stored.tobytes())
        dng.ImageDataStrips.append(buf.getvalue())
        offsets.append(_tag(Tag.StripOffsets, 0))
        preview_ifd = [
            _tag(Tag.NewSubfileType, 1),  # a reduced-resolution copy
            _tag(Tag.ImageWidth, stored.width),
            _tag(Tag.ImageLength, stored.height),
            _tag(Tag.BitsPerSample, [8, 8, 8]),
            _tag(Tag.Compression, 7 if preview_jpeg else 1),  # JPEG or none
            _tag(Tag.PhotometricInterpretation, 6 if preview_jpeg else 2),  # YCbCr or RGB
            _tag(Tag.SamplesPerPixel, 3),
            _tag(Tag.RowsPerStrip, stored.height),
            _tag(Tag.StripByteCounts, len(buf.getvalue())),
            offsets[1],
        ]
        main.append(_sub_ifd(330, _ifd(preview_ifd)))  # SubIFDs
    dng.IFDs.append(_ifd(main))

    size = dng.dataLen()  # lays the strips out after the IFDs: their offsets are now known
    for tag, offset in zip(offsets, dng.StripOffsets.values()):
        tag.setValue([offset])
    data = bytearray(size)
    dng.setBuffer(data)
    dng.write()
    Path(path).write_bytes(data)
    return Path(path)


@contextlib.contextmanager
def serving(records: list, manifest: Path, rescore: Any = None) -> Iterator[Any]:
    """A review server on a free port over ``records`` (saved to ``manifest`` first), in a
    thread, moved boxes scored by ``rescore`` when given; shut down on leaving."""
    import threading

    from sacrop_cli.viz.review import ReviewServer, serve
    from sacrop_cli.viz.review_records import ReviewSession

    session = ReviewSession(manifest, records)
    session.rescore = rescore
    session.save()
    server = ReviewServer(session)
    thread = threading.Thread(target=serve, args=(server,))
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()


def tightest_review(photos: list[Path], manifest: Path, weights: str | None = None) -> list[dict]:
    """What a person who always picks the tightest of the 3 ranks offered (free ratio) leaves
    in ``sacrop review``'s FILE after reviewing ``photos``: each changed if need be, then marked
    done. Returns the records as analysed (before the review)."""
    import copy

    from sacrop_cli.api import Cropper
    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.viz import review_records

    scan = scan_inputs(photos)
    plan = review_records.plan(scan, [], ["any"])
    records = review_records.analyse(lambda: Cropper(weights), plan, scan, ["any"], 3)
    session = review_records.ReviewSession(manifest, copy.deepcopy(records))
    for index in session.shown:
        offered = sorted(session.records[index]["proposals"], key=lambda c: c["rank"])
        areas = [(c["box"][2] - c["box"][0]) * (c["box"][3] - c["box"][1]) for c in offered]
        rank = areas.index(min(areas)) + 1
        if rank != 1:
            session.change({"index": index, "action": "rank", "ratio": "any", "rank": rank})
        session.change({"index": index, "action": "done", "done": True})
    return records


def tightest_hits(records: list[dict]) -> int:
    """How many records' rank 1 is the tightest of their ranks offered."""
    hits = 0
    for record in records:
        offered = sorted(record.get("proposals", record["crops"]), key=lambda c: c["rank"])
        areas = [(c["box"][2] - c["box"][0]) * (c["box"][3] - c["box"][1]) for c in offered]
        hits += bool(areas) and areas.index(min(areas)) == 0
    return hits
