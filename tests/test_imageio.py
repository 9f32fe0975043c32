"""Tests of reading photos upright and writing crops with their metadata."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import struct
import zlib
from pathlib import Path

import numpy as np
import piexif
import pytest
from helpers import (
    DATE,
    EXAMPLES,
    GPS,
    MAKE,
    MODEL,
    exif_bytes,
    make_dng,
    pattern,
    require_module,
)
from PIL import Image, ImageCms, ImageFile, ImageOps

from sacrop_cli.errors import ImageError, OutputError
from sacrop_cli.io import atomic
from sacrop_cli.io.encode import output_name, save_crop
from sacrop_cli.io.imageio import (
    DEFAULT_MAX_PIXELS,
    FORMAT_FOR_EXTENSION,
    crop_extension,
    open_for_analysis,
    open_photo,
    stored_orientation,
)
from sacrop_cli.io.photo import MIN_SIDE

COFFEE = EXAMPLES / "coffee.jpg"  # 600x400, no EXIF
LANDSCAPE = EXAMPLES / "sunset.jpg"  # 1600x1067, no EXIF

# Display transform for each EXIF orientation, and its inverse (to build stored pixels).
SHOW = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
STORE = {**SHOW, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).mean())


def png_with_header_size(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height but holds almost no data."""
    Image.new("L", (40, 40)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr[4:]
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr))
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def rotated_jpeg(tmp_path: Path) -> Path:
    """coffee.jpg (600x400 stored) tagged Orientation 6, with camera tags and a thumbnail."""
    path = tmp_path / "IMG_0001.jpg"
    shutil.copy(COFFEE, path)
    piexif.insert(exif_bytes(orientation=6, thumbnail=True), str(path))
    return path


# --------------------------------------------------------------------------------------------
# EXIF and orientation


def test_exif_round_trip_on_rotated_jpeg(rotated_jpeg: Path, tmp_path: Path) -> None:
    assert piexif.load(str(rotated_jpeg))["thumbnail"]  # the fixture really has one
    photo = open_photo(rotated_jpeg)
    assert photo.size == (400, 600)
    assert photo.format == "JPEG"
    assert photo.exif is not None and photo.warnings == []

    box = (50, 100, 350, 500)
    out = save_crop(photo, box, tmp_path / "out" / "crop.jpg")
    assert out == tmp_path / "out" / "crop.jpg"

    meta = piexif.load(str(out))
    assert meta["0th"][piexif.ImageIFD.Make] == MAKE
    assert meta["0th"][piexif.ImageIFD.Model] == MODEL
    assert meta["Exif"][piexif.ExifIFD.DateTimeOriginal] == DATE
    assert meta["GPS"][piexif.GPSIFD.GPSLatitudeRef] == b"N"
    assert meta["0th"][piexif.ImageIFD.Orientation] == 1
    assert meta["Exif"][piexif.ExifIFD.PixelXDimension] == 300
    assert meta["Exif"][piexif.ExifIFD.PixelYDimension] == 400
    assert meta["1st"] == {} and meta["thumbnail"] is None

    with Image.open(out) as written, Image.open(rotated_jpeg) as original:
        assert written.size == (300, 400)
        expected = ImageOps.exif_transpose(original).crop(box)
        assert diff(written.convert("RGB"), expected) < 3
        # Pillow agrees the crop is upright as stored.
        assert ImageOps.exif_transpose(written).size == (300, 400)
    assert photo.warnings == []


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_is_turned_upright_exactly(tmp_path: Path, orientation: int) -> None:
    upright = pattern(64, 48)
    stored = upright.transpose(STORE[orientation]) if orientation > 1 else upright
    path = tmp_path / f"o{orientation}.png"
    stored.save(path, exif=exif_bytes(orientation))

    photo = open_photo(path)
    assert photo.size == (64, 48)
    assert np.array_equal(np.asarray(photo.image), np.asarray(upright))
    with Image.open(path) as im:
        assert np.array_equal(np.asarray(ImageOps.exif_transpose(im)), np.asarray(upright))


@pytest.mark.parametrize("orientation", [3, 5, 6, 8])
def test_rotated_jpeg_matches_pillow_exif_transpose(tmp_path: Path, orientation: int) -> None:
    with Image.open(COFFEE) as im:
        upright = im.convert("RGB")
    path = tmp_path / "r.jpg"
    upright.transpose(STORE[orientation]).save(path, quality=95, exif=exif_bytes(orientation))
    photo = open_photo(path)
    assert photo.size == (600, 400)
    with Image.open(path) as im:
        assert diff(photo.image, ImageOps.exif_transpose(im)) == 0
    assert diff(photo.image, upright) < 3


def test_corrupt_exif_crop_is_written_without_it(tmp_path: Path) -> None:
    src = tmp_path / "bad.jpg"
    with Image.open(COFFEE) as im:
        im.save(src, exif=b"Exif\x00\x00garbage")
    photo = open_photo(src)
    assert photo.size == (600, 400)
    out = save_crop(photo, (0, 0, 300, 200), tmp_path / "c.jpg")
    save_crop(photo, (0, 0, 200, 200), tmp_path / "d.jpg")
    assert photo.warnings == [f"{src}: corrupt EXIF dropped: no TIFF header"]  # once
    with Image.open(out) as im:
        assert im.size == (300, 200)
        assert "exif" not in im.info


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif"])
def test_icc_profile_and_exif_kept_in_every_format(tmp_path: Path, ext: str) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "icc.jpg"
    with Image.open(COFFEE) as im:
        im.save(src, icc_profile=icc, exif=exif_bytes())
    photo = open_photo(src)
    assert photo.icc_profile == icc
    out = save_crop(photo, (10, 20, 210, 170), tmp_path / f"crop{ext}")
    with Image.open(out) as im:
        assert im.format == FORMAT_FOR_EXTENSION[ext]
        assert im.size == (200, 150)
        assert im.info.get("icc_profile") == icc
        exif = im.getexif()
        assert exif[0x010F] == MAKE.decode()
        assert exif[0x0112] == 1
        assert exif.get_ifd(0x8769)[0xA002] == 200
        assert exif.get_ifd(0x8769)[0xA003] == 150
    assert photo.warnings == []


def test_bmp_output_has_pixels_only(tmp_path: Path, rotated_jpeg: Path) -> None:
    photo = open_photo(rotated_jpeg)
    out = save_crop(photo, (0, 0, 400, 300), tmp_path / "c.bmp")
    with Image.open(out) as im:
        assert (im.format, im.size, im.mode) == ("BMP", (400, 300), "RGB")
        assert diff(im, photo.image.crop((0, 0, 400, 300))) == 0


# --------------------------------------------------------------------------------------------
# Modes


def test_rgba_png_keeps_alpha_and_jpeg_drops_it(tmp_path: Path) -> None:
    rgba = pattern(80, 60, "RGBA")
    alpha = np.tile(np.arange(80, dtype=np.uint8) * 3, (60, 1))
    rgba.putalpha(Image.fromarray(alpha, "L"))
    src = tmp_path / "a.png"
    rgba.save(src)
    photo = open_photo(src)
    assert photo.image.mode == "RGBA"

    png = save_crop(photo, (10, 5, 70, 55), tmp_path / "a.crop.png")
    with Image.open(png) as im:
        assert im.mode == "RGBA"
        assert np.array_equal(np.asarray(im), np.asarray(rgba.crop((10, 5, 70, 55))))
    jpg = save_crop(photo, (10, 5, 70, 55), tmp_path / "a.crop.jpg")
    with Image.open(jpg) as im:
        assert (im.mode, im.size) == ("RGB", (60, 50))
    webp = save_crop(photo, (10, 5, 70, 55), tmp_path / "a.crop.webp")
    with Image.open(webp) as im:
        assert im.mode == "RGBA"


def test_palette_png_with_transparency_becomes_rgba(tmp_path: Path) -> None:
    pal = Image.new("P", (40, 40), 0)
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.paste(1, (20, 0, 40, 40))
    src = tmp_path / "p.png"
    pal.save(src, transparency=0)
    photo = open_photo(src)
    assert photo.image.mode == "RGBA"
    out = save_crop(photo, (0, 0, 40, 39), tmp_path / "p.crop.png")
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        pixels = np.asarray(im)
    assert pixels[0, 0, 3] == 0  # transparent red stays transparent
    assert tuple(pixels[0, 30]) == (0, 0, 255, 255)


def test_sixteen_bit_gray_png_is_scaled_to_8_bit(tmp_path: Path) -> None:
    values = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    src = tmp_path / "g16.png"
    Image.fromarray(values).save(src)
    with Image.open(src) as im:
        assert im.mode == "I;16"
    photo = open_photo(src)
    assert photo.image.mode == "L"
    assert np.array_equal(np.asarray(photo.image), (values >> 8).astype(np.uint8))
    for ext in (".png", ".jpg", ".webp"):
        out = save_crop(photo, (0, 0, 64, 48), tmp_path / f"g{ext}")
        with Image.open(out) as im:
            assert im.size == (64, 48)


def test_cmyk_jpeg_loads_as_rgb(tmp_path: Path) -> None:
    src = tmp_path / "cmyk.jpg"
    with Image.open(COFFEE) as im:
        rgb = im.convert("RGB")
        im.convert("CMYK").save(src, quality=95)
    photo = open_photo(src)
    assert photo.image.mode == "RGB"
    assert diff(photo.image, rgb) < 3
    out = save_crop(photo, (0, 0, 100, 100), tmp_path / "c.jpg")
    with Image.open(out) as im:
        assert (im.mode, im.size) == ("RGB", (100, 100))


def test_cmyk_jpeg_with_unusable_profile_is_converted_without_it(tmp_path: Path) -> None:
    fake_cmyk_icc = bytes(16) + b"CMYK" + bytes(108)
    src = tmp_path / "cmyk.jpg"
    with Image.open(COFFEE) as im:
        im.convert("CMYK").save(src, icc_profile=fake_cmyk_icc)
    photo = open_photo(src)
    assert (photo.image.mode, photo.icc_profile) == ("RGB", None)
    assert photo.warnings == [f"{src}: CMYK colour profile unusable, converted without it"]


def test_animated_image_uses_first_frame(tmp_path: Path) -> None:
    src = tmp_path / "anim.webp"
    frames = [Image.new("RGB", (40, 40), c) for c in ("red", "blue", "green")]
    frames[0].save(src, save_all=True, append_images=frames[1:], lossless=True)
    photo = open_photo(src)
    assert photo.n_frames == 3
    assert photo.warnings == [f"{src}: animated image (3 frames): only the first frame is used"]
    assert photo.image.convert("RGB").getpixel((5, 5)) == (255, 0, 0)


# --------------------------------------------------------------------------------------------
# Refused inputs


def test_unreadable_inputs_raise_one_line_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo\n")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(COFFEE.read_bytes()[: COFFEE.stat().st_size // 2])
    folder = tmp_path / "folder.jpg"
    folder.mkdir()
    cases = {
        empty: "empty file (0 bytes)",
        text: "cannot identify image file (not an image?)",
        truncated: "truncated or corrupt image data",
        folder: "is a folder, not an image",
        tmp_path / "missing.jpg": "no such file",
    }
    for path, problem in cases.items():
        for load in (open_photo, lambda p: open_for_analysis(p, 224)):
            with pytest.raises(ImageError) as info:
                load(path)
            assert str(info.value) == f"{path}: {problem}"


def test_max_pixels_is_checked_before_decoding(tmp_path: Path, monkeypatch) -> None:
    big = png_with_header_size(tmp_path / "big.png", 6000, 6000)
    bomb = png_with_header_size(tmp_path / "bomb.png", 25000, 25000)

    def no_decoding(self):
        raise AssertionError("decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    limit_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageError) as info:
        open_photo(big, max_pixels=1_000_000)
    assert str(info.value) == (
        f"{big}: 6000x6000 pixels exceeds the limit of 1000000 (use --max-pixels to raise it)"
    )
    with pytest.raises(ImageError) as info:  # also before Pillow's own bomb check
        open_for_analysis(bomb, 224)
    assert str(info.value) == (
        f"{bomb}: 25000x25000 pixels exceeds the limit of {DEFAULT_MAX_PIXELS} "
        "(use --max-pixels to raise it)"
    )
    assert Image.MAX_IMAGE_PIXELS == limit_before


def test_limit_message_gives_upright_size(rotated_jpeg: Path) -> None:
    with pytest.raises(ImageError) as info:
        open_photo(rotated_jpeg, max_pixels=239_999)
    assert str(info.value) == (
        f"{rotated_jpeg}: 400x600 pixels exceeds the limit of 239999 (use --max-pixels to raise it)"
    )
    assert open_photo(rotated_jpeg, max_pixels=240_000).size == (400, 600)


def test_raised_limit_overrides_pillows_bomb_check(tmp_path: Path) -> None:
    # 20000x10000 = 2e8 pixels is above Pillow's own error threshold (~1.8e8); with our limit
    # raised, the file gets as far as decoding (and then fails: it has no data).
    big = png_with_header_size(tmp_path / "big.png", 20000, 10000)
    with pytest.raises(ImageError) as info:
        open_photo(big, max_pixels=300_000_000)
    assert str(info.value) == f"{big}: truncated or corrupt image data"


def test_too_small_image_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "tiny.png"
    Image.new("RGB", (20, 20)).save(src)
    with pytest.raises(ImageError) as info:
        open_photo(src)
    assert str(info.value) == (
        f"{src}: image too small (20x20; both sides must be at least 32 pixels)"
    )
    assert MIN_SIDE == 32
    ok = tmp_path / "ok.png"
    Image.new("RGB", (32, 32)).save(ok)
    assert open_photo(ok).size == (32, 32)


# --------------------------------------------------------------------------------------------
# Writing


def test_crop_box_must_lie_inside(rotated_jpeg: Path, tmp_path: Path) -> None:
    photo = open_photo(rotated_jpeg)
    for box in [(0, 0, 401, 600), (10, 10, 10, 20), (-1, 0, 10, 10)]:
        with pytest.raises(ImageError, match="outside the 400x600 image"):
            save_crop(photo, box, tmp_path / "x.jpg")
    assert list(tmp_path.glob("x*")) == []


def test_max_size_downsizes_and_exif_tells_final_size(rotated_jpeg: Path, tmp_path: Path) -> None:
    photo = open_photo(rotated_jpeg)
    out = save_crop(photo, (0, 0, 400, 300), tmp_path / "s.jpg", max_size=(100, 100))
    with Image.open(out) as im:
        assert im.size == (100, 75)
    meta = piexif.load(str(out))
    assert meta["Exif"][piexif.ExifIFD.PixelXDimension] == 100
    assert meta["Exif"][piexif.ExifIFD.PixelYDimension] == 75
    same = save_crop(photo, (0, 0, 40, 30), tmp_path / "t.jpg", max_size=(100, 100))
    with Image.open(same) as im:
        assert im.size == (40, 30)  # never enlarged


def test_existing_output_is_kept_unless_overwrite(
    rotated_jpeg: Path, tmp_path: Path, monkeypatch
) -> None:
    photo = open_photo(rotated_jpeg)
    out = tmp_path / "c.jpg"
    out.write_bytes(b"precious")
    with pytest.raises(OutputError) as info:
        save_crop(photo, (0, 0, 100, 100), out)
    assert str(info.value) == f"{out}: already exists (use --overwrite)"
    assert out.read_bytes() == b"precious"
    with monkeypatch.context() as m:  # appearing after the early check: the link refuses
        m.setattr(atomic.os.path, "lexists", lambda p: False)
        with pytest.raises(OutputError, match="already exists"):
            save_crop(photo, (0, 0, 100, 100), out)
    assert out.read_bytes() == b"precious"
    save_crop(photo, (0, 0, 100, 100), out, overwrite=True)
    with Image.open(out) as im:
        assert im.size == (100, 100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001.jpg", "c.jpg"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_without_hard_links_exclusive_create_is_used(
    rotated_jpeg: Path, tmp_path: Path, monkeypatch
) -> None:
    def no_link(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "link", no_link)
    photo = open_photo(rotated_jpeg)
    out = save_crop(photo, (0, 0, 100, 50), tmp_path / "c.png")
    with Image.open(out) as im:
        assert im.size == (100, 50)
    before = out.read_bytes()
    monkeypatch.setattr(atomic.os.path, "lexists", lambda p: False)  # reach O_EXCL
    with pytest.raises(OutputError, match="already exists"):
        save_crop(photo, (0, 0, 60, 60), out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001.jpg", "c.png"]


def test_failed_write_leaves_no_temp_file(rotated_jpeg: Path, tmp_path: Path, monkeypatch) -> None:
    source_bytes = rotated_jpeg.read_bytes()
    photo = open_photo(rotated_jpeg)

    def disk_full(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    out = tmp_path / "out" / "c.jpg"
    with pytest.raises(OutputError) as info:
        save_crop(photo, (0, 0, 100, 100), out)
    assert str(info.value) == f"{out}: cannot write: No space left on device"
    assert list((tmp_path / "out").iterdir()) == []
    assert rotated_jpeg.read_bytes() == source_bytes


def test_source_is_never_overwritten(tmp_path: Path) -> None:
    src = tmp_path / "a.png"
    pattern(64, 48).save(src)
    before = src.read_bytes()
    photo = open_photo(src)
    with pytest.raises(OutputError, match="is the source photo"):
        save_crop(photo, (0, 0, 32, 32), src, overwrite=True)
    assert src.read_bytes() == before


def test_unsupported_output_format(rotated_jpeg: Path, tmp_path: Path) -> None:
    photo = open_photo(rotated_jpeg)
    with pytest.raises(OutputError, match="unsupported output format .gif"):
        save_crop(photo, (0, 0, 40, 40), tmp_path / "c.gif")
    out = save_crop(photo, (0, 0, 40, 40), tmp_path / "c.img", format="png")
    with Image.open(out) as im:
        assert im.format == "PNG"


def test_output_name() -> None:
    assert output_name(Path("photos/IMG_0001.JPG"), "4:3", 1, ".jpg") == "IMG_0001.4x3.1.jpg"
    assert output_name(Path("a.b.png"), "16:9", 2, "webp") == "a.b.16x9.2.webp"
    assert output_name(Path("x.jpg"), "any", 3, ".png") == "x.any.3.png"
    assert output_name(Path("x.jpg"), "original", 1, ".jpg") == "x.original.1.jpg"


# --------------------------------------------------------------------------------------------
# Analysis decode


def test_open_for_analysis_drafts_rotated_jpeg(tmp_path: Path) -> None:
    src = tmp_path / "r.jpg"
    shutil.copy(LANDSCAPE, src)  # stored 1600x1067
    piexif.insert(exif_bytes(orientation=6), str(src))
    image, full = open_for_analysis(src, 224)
    assert full == (1067, 1600)
    assert image.mode == "RGB"
    assert image.size == (267, 400)  # 1/4 DCT scale, upright
    image, full = open_for_analysis(src, 300)
    assert (full, image.size) == ((1067, 1600), (534, 800))
    assert min(image.size) >= 300

    for ext in (".png", ".tif", ".webp"):
        path = tmp_path / f"p{ext}"
        pattern(100, 40).save(path, exif=exif_bytes(orientation=8))
        image, full = open_for_analysis(path, 32)
        assert (image.size, full, image.mode) == ((40, 100), (40, 100), "RGB")


@pytest.mark.parametrize("orientation", [1, 6])
def test_rotated_tiff_is_upright_and_sized_right(tmp_path: Path, orientation: int) -> None:
    upright = pattern(120, 80)
    stored = upright.transpose(STORE[orientation]) if orientation > 1 else upright
    src = tmp_path / "t.tif"
    stored.save(src, exif=exif_bytes(orientation))
    photo = open_photo(src)
    assert np.array_equal(np.asarray(photo.image), np.asarray(upright))
    with pytest.raises(ImageError, match=r"120x80 pixels exceeds the limit of 9000 "):
        open_photo(src, max_pixels=9000)


def test_a_crop_of_the_whole_photo_copies_its_bytes(tmp_path: Path) -> None:
    src = tmp_path / "a.jpg"
    pattern(80, 60).save(src, "JPEG", quality=70, exif=exif_bytes(orientation=1))
    photo = open_photo(src)
    out = save_crop(photo, (0, 0, 80, 60), tmp_path / "whole.jpg")
    assert out.read_bytes() == src.read_bytes()
    # re-encoded when the pixels or the format differ: a part, another format, a turned photo
    assert save_crop(photo, (0, 0, 80, 59), tmp_path / "part.jpg").read_bytes() != src.read_bytes()
    with Image.open(save_crop(photo, (0, 0, 80, 60), tmp_path / "whole.png")) as im:
        assert im.format == "PNG"
    turned = tmp_path / "turned.jpg"
    pattern(80, 60).save(turned, "JPEG", exif=exif_bytes(orientation=6))
    out = save_crop(open_photo(turned), (0, 0, 60, 80), tmp_path / "turned.crop.jpg")
    assert out.read_bytes() != turned.read_bytes()
    assert piexif.load(str(out))["0th"][piexif.ImageIFD.Orientation] == 1


XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="5"/>'
    b'</rdf:RDF></x:xmpmeta>'
)


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_xmp_is_kept(tmp_path: Path, ext: str) -> None:
    src = tmp_path / "rated.jpg"
    pattern(80, 60).save(src, "JPEG", xmp=XMP)
    out = save_crop(open_photo(src), (10, 10, 50, 40), tmp_path / f"crop{ext}")
    with Image.open(out) as im:
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    assert xmp is not None and b'xmp:Rating="5"' in (xmp.encode() if isinstance(xmp, str) else xmp)


def test_heic_photos_are_read_upright_and_cropped_to_jpeg(tmp_path: Path) -> None:
    pillow_heif = require_module("pillow_heif", "pip install pillow-heif (a dependency)")
    src = tmp_path / "IMG_2000.HEIC"
    pillow_heif.from_pillow(pattern(80, 60)).save(src, quality=95)
    photo = open_photo(src)
    assert (photo.format, photo.size) == ("HEIF", (80, 60))
    assert crop_extension(src) == ".jpg"
    with Image.open(save_crop(photo, (0, 0, 40, 40), tmp_path / "c.jpg")) as im:
        assert (im.format, im.size) == ("JPEG", (40, 40))


def test_crop_extension_follows_the_content_when_the_name_does_not_tell(tmp_path: Path) -> None:
    pattern().save(tmp_path / "scan", "PNG")
    pattern().save(tmp_path / "scan.1", "JPEG")
    assert [
        crop_extension(tmp_path / n) for n in ("scan", "scan.1", "a.JPG", "b.gif", "c.tiff")
    ] == [".png", ".jpg", ".jpg", ".png", ".tiff"]


def test_an_upright_photo_is_not_copied(monkeypatch):
    def no_copy(self):
        raise AssertionError("a copy of the whole photo")

    monkeypatch.setattr(Image.Image, "copy", no_copy)
    assert open_photo(COFFEE).size == (600, 400)


def test_reduced_decode_through_the_jpeg_draft(rotated_jpeg: Path) -> None:
    photo = open_photo(COFFEE, reduce=4)
    assert (photo.scale, photo.size, photo.image.size) == (4, (600, 400), (150, 100))
    turned = open_photo(rotated_jpeg, reduce=2)
    assert (turned.scale, turned.size, turned.image.size) == (2, (400, 600), (200, 300))
    assert open_photo(COFFEE, reduce=1).scale == 1
    png = rotated_jpeg.with_suffix(".png")
    Image.open(COFFEE).save(png)
    assert open_photo(png, reduce=4).scale == 1  # only JPEGs have a draft


def test_stored_orientation_is_read_from_the_header(tmp_path):
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        upright = im.convert("RGB")
    upright.save(tmp_path / "o6.jpg", exif=exif_bytes(orientation=6))
    make_dng(tmp_path / "o8.dng", upright, orientation=8, preview=False)
    (tmp_path / "junk.jpg").write_bytes(b"junk")
    assert [stored_orientation(tmp_path / n) for n in ("o6.jpg", "o8.dng", "junk.jpg")] == [6, 8, 1]


def test_a_16_bit_raw_crop_is_a_16_bit_tiff_shrunk_like_8_bit_ones(tmp_path):
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        dng = make_dng(tmp_path / "c.dng", im.convert("RGB"))
    photo = open_photo(dng, bits=16)
    out = save_crop(photo, (100, 50, 400, 250), tmp_path / "c.tif", max_size=(150, 150))
    with Image.open(out) as tif:
        assert tif.size == (150, 100) and tif.tag_v2[258] == (16, 16, 16)
        # its high bytes are the 8-bit crop shrunk the same way, within rounding (Pillow's
        # 8-bit LANCZOS rounds and clips each pass: a few levels where ringing overshoots)
        eight = photo.image.crop((100, 50, 400, 250)).resize((150, 100), Image.Resampling.LANCZOS)
        diff = np.abs(np.asarray(tif.convert("RGB"), np.int16) - np.asarray(eight, np.int16))
        assert diff.mean() < 0.5 and diff.max() <= 8  # high bytes: truncated, not rounded
    assert save_crop(photo, (0, 0, 600, 400), tmp_path / "c.jpg").suffix == ".jpg"


@pytest.mark.parametrize("orientation", [1, 6])
def test_tiff_crops_of_a_tiff_keep_its_exif(tmp_path: Path, orientation: int) -> None:
    exif = piexif.load(exif_bytes(orientation))
    exif["GPS"] = GPS
    src = tmp_path / "camera.tif"
    pattern(300, 200).save(src, exif=piexif.dump(exif) + b"\0\0\0\0")
    photo = open_photo(src)
    out = save_crop(photo, (10, 20, 110, 95), tmp_path / "crop.tif")
    back = piexif.load(str(out))
    assert back["0th"][piexif.ImageIFD.Make] == MAKE
    assert back["0th"][piexif.ImageIFD.Model] == MODEL
    assert back["0th"][piexif.ImageIFD.Orientation] == 1
    assert back["Exif"][piexif.ExifIFD.DateTimeOriginal] == DATE
    assert back["Exif"][piexif.ExifIFD.PixelXDimension] == 100
    assert back["Exif"][piexif.ExifIFD.PixelYDimension] == 75
    # Pillow's TIFF writer stores 2442/100 as 1221/50: the source's own values, as stored
    assert back["GPS"] == piexif.load(str(src))["GPS"]
    assert back["GPS"][piexif.GPSIFD.GPSLatitude] == ((48, 1), (51, 1), (1221, 50))
    assert back["GPS"][piexif.GPSIFD.GPSLongitude] == GPS[piexif.GPSIFD.GPSLongitude]
    assert photo.warnings == []
    with Image.open(out) as im:
        assert im.size == (100, 75)


def half_transparent(path: Path, mode: str = "RGBA") -> Path:
    """64x48: the left half red under alpha 0, the right half blue, opaque (gray 40 in LA)."""
    pixels = np.zeros((48, 64, 4), np.uint8)
    pixels[:, :32] = (255, 0, 0, 0)
    pixels[:, 32:] = (0, 0, 255, 255)
    image = Image.fromarray(pixels, "RGBA")
    if mode == "LA":
        image = Image.merge("LA", (Image.new("L", image.size, 40), image.getchannel("A")))
    image.save(path)
    return path


@pytest.mark.parametrize(
    ("background", "expected"), [(None, (255, 255, 255)), ("#102030", (16, 32, 48))]
)
def test_transparent_pixels_become_the_background_in_jpeg(tmp_path, background, expected):
    photo = open_photo(half_transparent(tmp_path / "t.png"))
    options = {} if background is None else {"background": background}
    out = save_crop(photo, (0, 0, 64, 48), tmp_path / "t.jpg", **options)
    with Image.open(out) as im:
        pixels = np.asarray(im, np.int16)
    assert np.abs(pixels[:, :24] - expected).max() <= 2  # not the red under alpha 0
    assert np.abs(pixels[:, 40:] - (0, 0, 255)).max() <= 2


def test_transparent_gray_becomes_the_background_gray(tmp_path):
    photo = open_photo(half_transparent(tmp_path / "t.png", "LA"))
    out = save_crop(photo, (0, 0, 64, 48), tmp_path / "t.jpg", background="black")
    with Image.open(out) as im:
        assert im.mode == "L"
        pixels = np.asarray(im, np.int16)
    assert pixels[:, :24].max() <= 2 and np.abs(pixels[:, 40:] - 40).max() <= 2


def test_a_bad_background_colour_is_refused(tmp_path):
    photo = open_photo(half_transparent(tmp_path / "t.png"))
    with pytest.raises(ValueError, match="^unknown colour 'nocolour'"):
        save_crop(photo, (0, 0, 64, 48), tmp_path / "t.jpg", background="nocolour")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_a_whole_image_is_told_from_one_cut_short(tmp_path, fmt):
    """Issue 32, item 5: the header and the end (JPEG's EOI, PNG's IEND, WebP's RIFF length),
    TIFF decoded in full."""
    from sacrop_cli.io.imageio import is_whole_image

    path = tmp_path / f"a.{fmt.lower()}"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(path, fmt)
    assert is_whole_image(path) and is_whole_image(path, (80, 60))
    assert not is_whole_image(path, (60, 80))
    data = path.read_bytes()
    for broken in (data[:-1], data[: len(data) // 2], b"", b"\xff\xd8" + b"x" * 100):
        path.write_bytes(broken)
        assert not is_whole_image(path), (fmt, len(broken))
    path.unlink()
    path.mkdir()
    assert not is_whole_image(path) and not is_whole_image(tmp_path / "none.jpg")
