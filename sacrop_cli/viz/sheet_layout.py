"""What both preview sheets show: thumbnails of the photos, their crops in order of importance,
one colour per ratio, and the layout constants."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from sacrop_cli.errors import SacropError
from sacrop_cli.io.imageio import DEFAULT_MAX_PIXELS, open_for_analysis
from sacrop_cli.record import CropRecord, PhotoRecord
from sacrop_cli.viz.drawing import (
    PALETTE,
    THUMB_SIDE,
    thumb_size,
)

JPEG_QUALITY = 80
PAGE_SIZE = 50  # photos per HTML page
MAX_PNG_PHOTOS = 100  # a taller PNG sheet would need hundreds of MB: use HTML or --preview-dir
#: One colour per ratio, in order of first appearance; all dark enough for white label text.
SHEET_EXTENSIONS = (".html", ".htm", ".png")

# PNG layout, in pixels
MARGIN, GAP = 16, 12
TITLE_H, HEADER_H, LINE_H = 30, 22, 18
CROP_CELL, CAPTION_H, CROPS_PER_ROW = 140, 34, 4


def photos_of(records: Sequence[PhotoRecord]) -> tuple[list[PhotoRecord], int]:
    """The records of photos (cropped or failed), and how many inputs were skipped as not
    photos (``readme.txt``): the sheets show and count photos only."""
    photos = [r for r in records if r["status"] != "skipped"]
    return photos, len(records) - len(photos)


def skipped_text(skipped: int) -> str:
    """``, 1 other file skipped`` for the sheets' headers; empty when none was."""
    return f", {skipped} other file(s) skipped" if skipped else ""


def sheet_width(records: Sequence[PhotoRecord]) -> int:
    """PNG width: the thumbnail column and as many crop columns as the busiest photo needs
    (1 to :data:`CROPS_PER_ROW`)."""
    columns = min(CROPS_PER_ROW, max([len(r["crops"]) for r in records] + [1]))
    return MARGIN + THUMB_SIDE + GAP + columns * CROP_CELL + (columns - 1) * GAP + MARGIN


#: ``thumbnail(record)`` -> the upright photo at reduced size; raises SacropError/OSError.
ThumbnailFn = Callable[[PhotoRecord], Image.Image]


def thumbnail_loader(long_side: int = THUMB_SIDE, max_pixels: int | None = None) -> ThumbnailFn:
    """Thumbnails decoded from each record's source at reduced size, upright, RGB."""
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels

    def load(record: PhotoRecord) -> Image.Image:
        image, _ = open_for_analysis(Path(record["source"]), long_side, max_pixels=limit)
        return image.resize(
            thumb_size(record["width"], record["height"], long_side),
            Image.LANCZOS,
            reducing_gap=2.0,
        )

    return load


def ratio_colours(records: Iterable[PhotoRecord]) -> dict[str, str]:
    """A palette colour for each ratio label, in order of first appearance."""
    colours: dict[str, str] = {}
    for record in records:
        for crop in record["crops"]:
            if crop["ratio"] not in colours:
                colours[crop["ratio"]] = PALETTE[len(colours) % len(PALETTE)]
    return colours


def crop_label(crop: CropRecord) -> str:
    return f"{crop['ratio']} #{crop['rank']} {crop['score']:.3f}"


@dataclass
class Item:
    """One record ready to draw: its thumbnail, or why there is none."""

    index: int  # 1-based position in the input order
    record: PhotoRecord
    thumb: Image.Image | None
    note: str | None  # the photo was read during the run but not now


def layout_items(
    records: Sequence[PhotoRecord], thumbnail: ThumbnailFn, start: int = 1
) -> Iterator[Item]:
    """Records with their thumbnails, loaded one at a time; numbered from ``start``."""
    for index, record in enumerate(records, start=start):
        thumb = note = None
        if record.get("width") and record.get("height"):  # decodable during the run
            try:
                thumb = thumbnail(record)
            except (SacropError, OSError) as err:
                note = f"no thumbnail: {str(err).strip() or type(err).__name__}"
        yield Item(index, record, thumb, note)


def thumb_box(box: Sequence[float], record: PhotoRecord, thumb: Image.Image) -> tuple[float, ...]:
    """A box in full-resolution pixels -> the same box in thumbnail pixels."""
    sx, sy = thumb.width / record["width"], thumb.height / record["height"]
    return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy


def crop_thumb(item: Item, crop: CropRecord) -> Image.Image:
    x1, y1, x2, y2 = thumb_box(crop["box"], item.record, item.thumb)
    x1, y1 = int(x1), int(y1)
    return item.thumb.crop((x1, y1, max(x1 + 1, round(x2)), max(y1 + 1, round(y2))))


def by_importance(crops: Sequence[CropRecord]) -> list[CropRecord]:
    """Crops ordered rank 1 first (of every ratio), then rank 2...: whose label wins a spot."""
    return sorted(crops, key=lambda c: c["rank"])
