"""The EXIF block of a crop."""

from __future__ import annotations

import struct

import piexif
from helpers import DATE, MAKE

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
