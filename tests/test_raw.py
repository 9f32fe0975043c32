"""Tests of RAW input: real DNGs (made from a photo by tests/helpers.py) developed by LibRaw."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import piexif
import pytest
from helpers import DATETIME, EXAMPLES, EXPOSURE, GPS, make_dng
from helpers import DNG_MAKE as MAKE
from helpers import DNG_MODEL as MODEL
from PIL import Image, ImageDraw

from sacrop_cli.errors import ImageError, OutputError
from sacrop_cli.io import raw
from sacrop_cli.io.encode import save_crop
from sacrop_cli.io.exif import exif_for_crop
from sacrop_cli.io.raw import (
    RAW_EXTENSIONS,
    develop_raw,
    is_raw,
    open_raw_for_analysis,
    raw_default_crop,
    raw_exif,
    save_tiff16,
)

COFFEE = EXAMPLES / "coffee.jpg"  # 600x400
SHORT_SIDE = 256  # the network's default input_spec["short_side"]
# Mean absolute difference (0-255) between a develop and the photo the DNG was made from:
# 3.83-3.88 measured over the 8 orientations (demosaicking, LibRaw's auto-brightening); a
# develop turned the wrong way measured 48.
DEVELOP_MAD = 6.0
# Between the analysis image and the develop reduced to its size: 3.89-4.26 measured for the
# embedded preview (JPEG at quality 90; 3.83-3.88 uncompressed), 3.96-4.73 for the half-size
# develop.
ANALYSIS_MAD = 7.0


def mad(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two RGB images of the same size."""
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


@pytest.fixture(scope="module")
def coffee() -> Image.Image:
    return Image.open(COFFEE).convert("RGB")


@pytest.fixture(scope="module")
def dng(coffee: Image.Image, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dng(tmp_path_factory.mktemp("raw") / "coffee.dng", coffee)


def test_raw_extensions() -> None:
    assert RAW_EXTENSIONS == {
        ".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw"
    }  # fmt: skip
    assert is_raw("photos/DSC_0001.NEF") and is_raw(Path("a.dng"))
    assert not is_raw("a.jpg") and not is_raw("nef")


def test_develop_looks_like_the_photo(dng: Path, coffee: Image.Image) -> None:
    photo = develop_raw(dng)
    assert photo.image.mode == "RGB" and photo.size == coffee.size
    assert mad(photo.image, coffee) < DEVELOP_MAD
    assert (photo.format, photo.orientation, photo.icc_profile) == ("DNG", 1, None)
    assert photo.pixels16 is None and photo.warnings == []


@pytest.mark.parametrize("orientation", range(1, 9))
def test_develop_and_analysis_are_upright(
    orientation: int, coffee: Image.Image, tmp_path: Path
) -> None:
    path = make_dng(tmp_path / "o.dng", coffee, orientation=orientation)
    photo = develop_raw(path)
    assert photo.size == coffee.size  # stored 400x600 for 5-8: LibRaw's flip swaps exactly
    assert mad(photo.image, coffee) < DEVELOP_MAD
    for preview, jpeg in ((True, True), (True, False), (False, True)):  # JPEG, RGB, none
        path = make_dng(tmp_path / f"{preview}{jpeg}.dng", coffee, orientation=orientation,
                        preview=preview, preview_jpeg=jpeg)  # fmt: skip
        analysis = open_raw_for_analysis(path, SHORT_SIDE)
        assert analysis.source == ("preview" if preview else "half-size")
        assert analysis.full_size == photo.size
        reduced = photo.image.resize(analysis.image.size, Image.Resampling.BOX)
        assert mad(analysis.image, reduced) < ANALYSIS_MAD


@pytest.mark.parametrize("preview", [True, False])
@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_box_on_analysis_image_maps_onto_developed_pixels(
    orientation: int, preview: bool, coffee: Image.Image, tmp_path: Path
) -> None:
    marked = coffee.copy()
    box = (420, 60, 500, 140)
    ImageDraw.Draw(marked).rectangle(box, fill=(0, 255, 0))  # a green found nowhere else
    path = make_dng(tmp_path / "m.dng", marked, orientation=orientation, preview=preview)
    analysis = open_raw_for_analysis(path, 128)
    rgb = np.asarray(analysis.image, np.int16)
    ys, xs = np.nonzero((rgb[..., 1] > 200) & (rgb[..., 0] < 80) & (rgb[..., 2] < 80))
    sx = analysis.full_size[0] / analysis.image.width
    sy = analysis.full_size[1] / analysis.image.height
    found = (xs.min() * sx, ys.min() * sy, (xs.max() + 1) * sx, (ys.max() + 1) * sy)
    assert found == pytest.approx((box[0], box[1], box[2] + 1, box[3] + 1), abs=2 * sx + 1)
    crop = np.asarray(develop_raw(path).image.crop((430, 70, 490, 130)), np.int16)
    assert crop[..., 1].min() > 200 and crop[..., [0, 2]].max() < 80


@pytest.mark.parametrize(
    ("scale", "orientation", "size"),
    [((2, 1), 1, (600, 200)), ((1, 2), 1, (300, 400)), ((1, 2), 6, (600, 200)),
     ((2, 1), 6, (300, 400))],
)  # fmt: skip
def test_non_square_pixels_are_stretched_in_every_frame(
    scale: tuple[int, int], orientation: int, size: tuple[int, int], tmp_path: Path
) -> None:
    # DNG DefaultScale stretches the sensor's columns (2, 1) or rows (1, 2), before turning
    photo = Image.open(COFFEE).resize((300, 200))
    path = make_dng(tmp_path / "s.dng", photo, default_scale=scale, orientation=orientation,
                    preview=False)  # fmt: skip
    analysis = open_raw_for_analysis(path, 50)
    assert analysis.full_size == develop_raw(path).size == size
    width, height = analysis.image.size
    assert width / height == pytest.approx(size[0] / size[1], rel=0.02)


def test_preview_needs_size_and_the_same_frame(coffee: Image.Image, tmp_path: Path) -> None:
    small = make_dng(tmp_path / "s.dng", coffee, preview=coffee.resize((300, 200)))
    assert open_raw_for_analysis(small, 200).source == "preview"
    assert open_raw_for_analysis(small, 201).source == "half-size"
    wide = make_dng(tmp_path / "w.dng", coffee, preview=coffee.crop((0, 0, 600, 338)))  # 16:9
    assert open_raw_for_analysis(wide, 100).source == "half-size"
    close = make_dng(tmp_path / "c.dng", coffee, preview=coffee.crop((0, 0, 600, 397)))
    assert open_raw_for_analysis(close, 100).source == "preview"  # aspect 0.76% off: kept
    far = make_dng(tmp_path / "f.dng", coffee, preview=coffee.crop((0, 0, 600, 395)))
    assert open_raw_for_analysis(far, 100).source == "half-size"  # 1.27% off


def test_analysis_image_keeps_the_short_side(
    dng: Path, coffee: Image.Image, tmp_path: Path
) -> None:
    preview = open_raw_for_analysis(dng, 100)
    assert preview.source == "preview" and preview.image.mode == "RGB"
    assert 100 <= min(preview.image.size) < 200  # decoded at a reduced JPEG scale
    developed = open_raw_for_analysis(make_dng(tmp_path / "n.dng", coffee, preview=False), 64)
    assert developed.source == "half-size" and developed.image.size == (100, 67)  # 300x200 / 3


def test_exif_tags_read_back_exactly(dng: Path) -> None:
    exif = piexif.load(raw_exif(dng))
    zeroth, tags = exif["0th"], exif["Exif"]
    assert zeroth[piexif.ImageIFD.Make] == MAKE.encode()
    assert zeroth[piexif.ImageIFD.Model] == MODEL.encode()
    assert zeroth[piexif.ImageIFD.DateTime] == DATETIME.encode()
    assert zeroth[piexif.ImageIFD.Orientation] == 1
    assert tags[piexif.ExifIFD.DateTimeOriginal] == DATETIME.encode()
    assert {tag: tags[tag] for tag in EXPOSURE} == EXPOSURE
    assert tags[piexif.ExifIFD.ColorSpace] == 1  # sRGB
    assert exif["GPS"] == GPS
    # nothing of the RAW's layout or DNG colour tags, no thumbnail
    assert set(zeroth) == {271, 272, 274, 306, piexif.ImageIFD.ExifTag, piexif.ImageIFD.GPSTag}
    assert exif["1st"] == {} and exif["thumbnail"] is None


def test_crop_of_a_raw_carries_its_exif(dng: Path, tmp_path: Path) -> None:
    photo = develop_raw(dng)
    out = save_crop(photo, (100, 50, 400, 250), tmp_path / "crop.jpg")
    exif = piexif.load(str(out))
    assert exif["0th"][piexif.ImageIFD.Model] == MODEL.encode()
    assert exif["Exif"][piexif.ExifIFD.ExposureTime] == (1, 250)
    assert exif["Exif"][piexif.ExifIFD.PixelXDimension] == 300
    assert exif["GPS"] == GPS
    assert photo.warnings == []


def test_exif_from_libraw_when_the_tags_are_in_ifd0(coffee: Image.Image, tmp_path: Path) -> None:
    # TIFF/EP style: piexif reads only Image-IFD tags there, LibRaw reads them all (as floats)
    path = make_dng(tmp_path / "ep.dng", coffee, exif_in_ifd0=True, gps=None)
    exif = piexif.load(raw_exif(path))
    assert exif["0th"][piexif.ImageIFD.Make] == MAKE.encode()
    assert exif["Exif"][piexif.ExifIFD.DateTimeOriginal] == DATETIME.encode()
    for tag, value in EXPOSURE.items():
        if tag == piexif.ExifIFD.ISOSpeedRatings:
            continue  # LibRaw reads ISO only from an Exif IFD
        got = exif["Exif"][tag]
        assert (Fraction(*got) if isinstance(got, tuple) else got) == (
            Fraction(*value) if isinstance(value, tuple) else value
        )
    assert exif["GPS"] == {}


def test_raw_without_metadata_has_no_exif(coffee: Image.Image, tmp_path: Path) -> None:
    path = make_dng(tmp_path / "bare.dng", coffee, make=None, model=None, datetime=None,
                    exposure=None, gps=None, preview=False)  # fmt: skip
    assert raw_exif(path) is None
    assert develop_raw(path).exif is None


def _broken_files(tmp_path: Path, dng: Path) -> dict[str, Path]:
    files = {
        "garbage": tmp_path / "x.nef",
        "jpeg": tmp_path / "coffee.nef",
        "truncated": tmp_path / "cut.dng",
        "empty": tmp_path / "empty.cr2",
        "missing": tmp_path / "missing.arw",
        "folder": tmp_path / "folder.raf",
    }
    files["garbage"].write_bytes(np.random.default_rng(0).bytes(20_000))
    files["jpeg"].write_bytes(COFFEE.read_bytes())
    files["truncated"].write_bytes(dng.read_bytes()[: dng.stat().st_size // 2])
    files["empty"].write_bytes(b"")
    files["folder"].mkdir()
    return files


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("garbage", "not a RAW file LibRaw can read (Unsupported file format or not RAW file)"),
        ("jpeg", "not a RAW file LibRaw can read (Unsupported file format or not RAW file)"),
        ("truncated", "truncated or unreadable RAW data (Input/output error)"),
        ("empty", "empty file (0 bytes)"),
        ("missing", "no such file"),
        ("folder", "is a folder, not an image"),
    ],
)
def test_unreadable_raw_is_a_one_line_image_error(
    kind: str, message: str, dng: Path, tmp_path: Path
) -> None:
    path = _broken_files(tmp_path, dng)[kind]
    for read in (develop_raw, lambda p: open_raw_for_analysis(p, SHORT_SIDE)):
        with pytest.raises(ImageError) as info:
            read(path)
        assert str(info.value) == f"{path}: {message}"


@pytest.mark.parametrize("orientation", [1, 6])
def test_max_pixels_checked_on_the_header(
    orientation: int, coffee: Image.Image, tmp_path: Path
) -> None:
    path = make_dng(tmp_path / "big.dng", coffee, orientation=orientation)
    size = "600x400"  # the upright size, also when stored 400x600
    readers = (
        lambda p, **kw: develop_raw(p, **kw).size,
        lambda p, **kw: open_raw_for_analysis(p, SHORT_SIDE, **kw).full_size,
    )
    for upright_size in readers:
        with pytest.raises(ImageError, match=f"^{path}: {size} pixels exceeds the limit of 1000 "):
            upright_size(path, max_pixels=1000)
        assert upright_size(path, max_pixels=240_000) == (600, 400)  # exactly 600x400 passes
        assert upright_size(path, max_pixels=None) == (600, 400)


def test_sixteen_bit_develop_and_tiff(dng: Path, tmp_path: Path) -> None:
    photo = develop_raw(dng, bits=16)
    pixels = photo.pixels16
    assert pixels is not None and pixels.dtype == np.uint16 and pixels.shape == (400, 600, 3)
    assert pixels.max() > 255 * 256  # the whole 16-bit range is used
    # the 8-bit image is the 16-bit one's high bytes, as LibRaw's 8-bit develop gives
    assert np.array_equal(np.asarray(photo.image), (pixels >> 8).astype(np.uint8))
    assert np.array_equal(np.asarray(photo.image), np.asarray(develop_raw(dng).image))

    crop = pixels[50:250, 100:400]
    exif, notes = exif_for_crop(photo.exif, 300, 200)
    out = save_tiff16(crop, tmp_path / "crop.tif", exif)
    with Image.open(out) as im:  # Pillow reads 16-bit RGB as 8-bit: the high bytes
        assert im.size == (300, 200) and im.tag_v2[258] == (16, 16, 16)
        offset = im.tag_v2[273][0]
        assert np.array_equal(np.asarray(im.convert("RGB")), (crop >> 8).astype(np.uint8))
    data = out.read_bytes()[offset : offset + crop.nbytes]
    assert np.array_equal(np.frombuffer(data, ">u2").reshape(crop.shape), crop)
    back = piexif.load(str(out))
    assert back["0th"][piexif.ImageIFD.Make] == MAKE.encode()
    assert back["Exif"][piexif.ExifIFD.ExposureTime] == (1, 250)
    assert back["Exif"][piexif.ExifIFD.PixelXDimension] == 300
    assert back["GPS"] == GPS and notes == []

    with pytest.raises(OutputError):
        save_tiff16(crop, out)  # exists
    plain = save_tiff16(crop, tmp_path / "plain.tif", overwrite=True)
    with Image.open(plain) as im:
        assert im.size == (300, 200) and 34665 not in im.tag_v2


def test_file_name_that_is_not_utf8(dng: Path, tmp_path: Path) -> None:
    path = tmp_path / os.fsdecode(b"caf\xe9.dng")  # a Latin-1 name: rawpy wants UTF-8
    try:
        path.write_bytes(dng.read_bytes())
    except OSError:
        pytest.skip("this file system takes UTF-8 names only")
    assert develop_raw(path).size == (600, 400)
    assert open_raw_for_analysis(path, SHORT_SIDE).source == "preview"


def test_bits_must_be_8_or_16(dng: Path) -> None:
    with pytest.raises(ValueError, match="8 or 16"):
        develop_raw(dng, bits=12)


def cut_dng(tmp_path: Path, short_by: int, preview_jpeg: bool = True) -> Path:
    """A DNG of coffee.jpg (its preview the last data in the file) cut ``short_by`` bytes."""
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        whole = make_dng(tmp_path / "whole.dng", im.convert("RGB"), preview_jpeg=preview_jpeg)
    cut = tmp_path / "cut.dng"
    cut.write_bytes(whole.read_bytes()[:-short_by])
    return cut


class _TailOf:
    """LibRaw on a cut file, whose preview's missing tail the memory happens to hold whole (so
    that it decodes: the case where crops change from run to run, made certain)."""

    def __init__(self, raw_file, thumb) -> None:
        self.raw_file, self.thumb = raw_file, thumb

    def __getattr__(self, name):
        return getattr(self.raw_file, name)

    def __enter__(self):
        self.raw_file.__enter__()
        return self

    def __exit__(self, *exc):
        return self.raw_file.__exit__(*exc)

    def extract_thumb(self):
        return self.thumb


@pytest.mark.parametrize("short_by", [10, 1000, 5000])
@pytest.mark.parametrize("preview_jpeg", [True, False])
def test_a_preview_past_the_end_of_its_file_is_not_used(
    tmp_path: Path, monkeypatch, short_by: int, preview_jpeg: bool
) -> None:
    """Issue 32, item 6: LibRaw hands the preview back at its declared length, the missing tail
    uninitialised memory: the RAW is developed instead."""
    import rawpy

    cut = cut_dng(tmp_path, short_by, preview_jpeg)
    with rawpy.imread(str(tmp_path / "whole.dng")) as whole:
        thumb = whole.extract_thumb()
    imread = raw._imread
    monkeypatch.setattr(raw, "_imread", lambda path: _TailOf(imread(path), thumb))
    assert open_raw_for_analysis(cut, 200).source == "half-size"
    assert open_raw_for_analysis(tmp_path / "whole.dng", 200).source == "preview"


def test_libraws_own_lines_stay_off_standard_error(tmp_path: Path, capfd) -> None:
    """Issue 32, item 15: LibRaw prints "cut.dng: Unexpected end of file" itself; sacrop's
    one line says it already. What others write meanwhile still goes out."""
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        whole = make_dng(tmp_path / "whole.dng", im.convert("RGB"))
    cut = tmp_path / "cut.dng"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with raw._quiet_libraw():
        os.write(2, b"someone else's line\n")
        with pytest.raises(ImageError) as caught:
            develop_raw(cut)
    assert str(caught.value) == f"{cut}: truncated or unreadable RAW data (Input/output error)"
    assert capfd.readouterr().err == "someone else's line\n"
    with pytest.raises(ImageError):
        develop_raw(cut)
    assert capfd.readouterr().err == ""


def test_a_dngs_default_crop_is_read_as_fractions_of_the_stored_pixels(
    coffee: Image.Image, dng: Path, tmp_path: Path
) -> None:
    # stored 400 x 600 (orientation 6), shown from (40, 60), 320 x 480: the stored frame's
    # fractions, whatever the orientation
    turned = make_dng(tmp_path / "c.dng", coffee, orientation=6, default_crop=(40, 60, 320, 480))
    assert raw_default_crop(turned) == (0.1, 0.1, 0.9, 0.9)
    assert raw_default_crop(dng) is None  # none: all the pixels
    whole = make_dng(tmp_path / "w.dng", coffee, default_crop=(0, 0, 600, 400))
    assert raw_default_crop(whole) is None
    outside = make_dng(tmp_path / "o.dng", coffee, default_crop=(100, 0, 600, 400))
    assert raw_default_crop(outside) is None  # past the pixels: not placed
