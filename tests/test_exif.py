"""The EXIF block of a crop."""

from __future__ import annotations

import struct

import piexif
from helpers import DATE, MAKE, MODEL, exif_bytes

from sacrop_cli.io.exif import exif_for_crop


def test_exif_for_crop_none_and_garbage() -> None:
    assert exif_for_crop(None, 10, 10) == (None, [])
    block, notes = exif_for_crop(b"Exif\x00\x00garbage", 10, 10, source="a.jpg")
    assert block is None
    assert notes == ["a.jpg: corrupt EXIF dropped: no TIFF header"]
    block, notes = exif_for_crop(b"Exif\x00\x00MM\x00*\x00\x00\xff\xff", 10, 10)
    assert block is None
    assert len(notes) == 1 and notes[0].startswith("corrupt EXIF dropped: ")


def test_exif_for_crop_drops_mistyped_scene_type() -> None:
    # SceneType (41729) is UNDEFINED; some cameras write it as BYTE, which piexif loads as an
    # int and then refuses to dump.
    block = piexif.dump(
        {
            "0th": {piexif.ImageIFD.Make: MAKE},
            "Exif": {piexif.ExifIFD.SceneType: b"\x01", piexif.ExifIFD.DateTimeOriginal: DATE},
        }
    )
    entry = struct.pack(">HHI", 41729, 7, 1)
    assert block.count(entry) == 1
    block = block.replace(entry, struct.pack(">HHI", 41729, 1, 1))
    assert piexif.load(block[6:])["Exif"][41729] == 1

    new, notes = exif_for_crop(block, 120, 80)
    assert notes == []
    meta = piexif.load(new[6:])
    assert 41729 not in meta["Exif"]
    assert meta["Exif"][piexif.ExifIFD.DateTimeOriginal] == DATE
    assert meta["0th"][piexif.ImageIFD.Make] == MAKE
    assert meta["Exif"][piexif.ExifIFD.PixelXDimension] == 120
    assert meta["Exif"][piexif.ExifIFD.PixelYDimension] == 80


def test_exif_for_crop_stores_the_crop_upright_without_the_originals_layout() -> None:
    """A crop's pixels are stored upright: Orientation 6 in the original must read 1 in the crop
    (mutant: Orientation left as it was, which turns every crop of a portrait photo sideways),
    the thumbnail and the original's pixel layout go, the rest stays."""
    original = exif_bytes(orientation=6, thumbnail=True)
    assert piexif.load(original)["0th"][piexif.ImageIFD.Orientation] == 6

    new, notes = exif_for_crop(original, 300, 200)
    assert notes == [] and new.startswith(b"Exif\x00\x00")
    meta = piexif.load(new[6:])
    assert meta["0th"][piexif.ImageIFD.Orientation] == 1
    assert meta["0th"][piexif.ImageIFD.Make] == MAKE
    assert meta["0th"][piexif.ImageIFD.Model] == MODEL
    assert meta["Exif"][piexif.ExifIFD.DateTimeOriginal] == DATE
    assert meta["Exif"][piexif.ExifIFD.PixelXDimension] == 300
    assert meta["Exif"][piexif.ExifIFD.PixelYDimension] == 200
    assert meta["1st"] == {} and meta["thumbnail"] is None
