"""The EXIF block of a crop: the original's, rewritten for the crop's pixels."""

from __future__ import annotations

import struct
from pathlib import Path

import piexif

from sacrop_cli.errors import one_line

# Tags of the 0th IFD that describe the original's pixel layout: wrong for a crop, and Pillow's
# TIFF writer would copy them over the crop's own.
_LAYOUT_TAGS = (
    piexif.ImageIFD.ImageWidth,
    piexif.ImageIFD.ImageLength,
    piexif.ImageIFD.BitsPerSample,
    piexif.ImageIFD.Compression,
    piexif.ImageIFD.PhotometricInterpretation,
    piexif.ImageIFD.StripOffsets,
    piexif.ImageIFD.SamplesPerPixel,
    piexif.ImageIFD.RowsPerStrip,
    piexif.ImageIFD.StripByteCounts,
    piexif.ImageIFD.PlanarConfiguration,
    piexif.ImageIFD.TileWidth,
    piexif.ImageIFD.TileLength,
    piexif.ImageIFD.TileOffsets,
    piexif.ImageIFD.TileByteCounts,
    piexif.ImageIFD.JPEGInterchangeFormat,
    piexif.ImageIFD.JPEGInterchangeFormatLength,
)


def drop_mistyped_tags(exif_dict: dict) -> None:
    """Delete tags whose value piexif cannot dump as the type its table expects.

    Cameras write e.g. SceneType (41729, UNDEFINED) as a BYTE, which piexif loads as an int and
    then refuses to dump.
    """
    t = piexif.TYPES
    ints = (t.Byte, t.SByte, t.Short, t.SShort, t.Long, t.SLong)
    for ifd in ("0th", "Exif", "GPS", "Interop"):
        tags = exif_dict.get(ifd) or {}
        for tag, value in list(tags.items()):
            kind = piexif.TAGS[ifd].get(tag, {}).get("type")
            items = value if isinstance(value, tuple) else (value,)
            if kind in ints:
                ok = bool(items) and all(isinstance(v, int) for v in items)
            elif kind == t.Ascii:
                ok = isinstance(value, (str, bytes))
            elif kind == t.Undefined:
                ok = isinstance(value, bytes)
            elif kind in (t.Rational, t.SRational):
                pairs = value if items and isinstance(items[0], tuple) else (value,)
                ok = bool(items) and all(
                    isinstance(p, tuple) and len(p) == 2 and all(isinstance(v, int) for v in p)
                    for p in pairs
                )
            elif kind in (t.Float, t.DFloat):
                ok = bool(items) and all(isinstance(v, (int, float)) for v in items)
            else:
                ok = False
            if not ok:
                del tags[tag]


def exif_for_crop(
    exif: bytes | None, width: int, height: int, *, source: Path | str | None = None
) -> tuple[bytes | None, list[str]]:
    """EXIF block for a ``width`` x ``height`` upright crop of a photo whose EXIF is ``exif``.

    Orientation becomes 1 (pixels are stored upright), PixelX/YDimension the crop size, and the
    embedded thumbnail (the whole 1st IFD) is dropped since it would show the uncropped photo;
    tags describing the original's pixel layout go too. Returns ``(block, warnings)``; the block
    starts with ``b"Exif\\0\\0"``. A block piexif cannot read or write is dropped with a warning
    (prefixed with ``source`` when given).
    """
    if not exif:
        return None, []
    prefix = f"{source}: " if source is not None else ""

    def dropped(reason: str) -> tuple[None, list[str]]:
        return None, [f"{prefix}corrupt EXIF dropped: {reason}"]

    tiff = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
    # piexif.load treats unrecognised bytes as a file name: only ever give it a TIFF header.
    if tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return dropped("no TIFF header")
    try:
        data = piexif.load(tiff)
    except Exception as exc:  # noqa: BLE001 - piexif raises struct.error, ValueError, KeyError...
        return dropped(one_line(exc))

    zeroth = data["0th"]
    for tag in _LAYOUT_TAGS:
        zeroth.pop(tag, None)
    zeroth[piexif.ImageIFD.Orientation] = 1
    data["Exif"][piexif.ExifIFD.PixelXDimension] = int(width)
    data["Exif"][piexif.ExifIFD.PixelYDimension] = int(height)
    data["1st"] = {}
    data["thumbnail"] = None
    try:
        block = piexif.dump(data)
    except (ValueError, TypeError, struct.error):
        drop_mistyped_tags(data)
        try:
            block = piexif.dump(data)
        except (ValueError, TypeError, struct.error) as exc:
            return dropped(one_line(exc))
    # piexif ends sub-IFDs without the 4-byte next-IFD offset; when one is last in the block,
    # readers (Pillow among them) run off the end. Four zero bytes terminate it properly.
    return block + b"\x00\x00\x00\x00", []
