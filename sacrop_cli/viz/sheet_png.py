"""The PNG preview sheet: one image, or one per photo (see :mod:`sacrop_cli.viz.sheets`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from sacrop_cli.record import PhotoRecord
from sacrop_cli.viz.drawing import (
    THUMB_SIDE,
    draw_faces,
    draw_fitted,
    draw_labelled_boxes,
    load_font,
)
from sacrop_cli.viz.sheet_layout import (
    CAPTION_H,
    CROP_CELL,
    CROPS_PER_ROW,
    GAP,
    HEADER_H,
    LINE_H,
    MARGIN,
    MAX_PNG_PHOTOS,
    TITLE_H,
    Item,
    ThumbnailFn,
    by_importance,
    crop_label,
    crop_thumb,
    layout_items,
    photos_of,
    ratio_colours,
    sheet_width,
    skipped_text,
    thumb_box,
)


def _crop_rows(n: int) -> int:
    return (n + CROPS_PER_ROW - 1) // CROPS_PER_ROW


def row_height(record: PhotoRecord, thumb: tuple[int, int] | None, note: bool = False) -> int:
    """Height of one photo's row in the PNG sheet: header, error/note lines, then the
    thumbnail beside the grid of crops (or the crops as text lines without a thumbnail)."""
    height = HEADER_H + LINE_H * (bool(record.get("error")) + note)
    if thumb is not None and record["crops"]:
        rows = _crop_rows(len(record["crops"]))
        height += max(thumb[1], rows * (CROP_CELL + CAPTION_H) + (rows - 1) * GAP)
    elif record["crops"]:
        height += LINE_H * len(record["crops"])
    return height


def _draw_item(
    sheet: Image.Image,
    draw: ImageDraw.ImageDraw,
    item: Item,
    top: int,
    colours: dict[str, str],
    fonts: PhotoRecord,
) -> None:
    rec = item.record
    right = sheet.width - 2 * MARGIN
    size = f"   {rec['width']} x {rec['height']}" if rec.get("width") else ""
    draw_fitted(
        draw, (MARGIN, top + 2), f"{item.index}. {rec['source']}{size}", fonts["head"], right
    )
    y = top + HEADER_H
    for text, colour in ((rec.get("error"), "#c62828"), (item.note, "#777")):
        if text:
            draw_fitted(draw, (MARGIN, y + 1), text, fonts["small"], right, fill=colour)
            y += LINE_H
    if not rec["crops"]:
        return
    if item.thumb is None:
        for crop in rec["crops"]:
            draw.text(
                (MARGIN, y + 1),
                f"{crop_label(crop)}  {crop['box']}",
                fill=colours[crop["ratio"]],
                font=fonts["small"],
            )
            y += LINE_H
        return
    photo = item.thumb.copy()
    draw_faces(photo, [thumb_box(f, rec, photo) for f in rec.get("faces") or []])
    crops = by_importance(rec["crops"])
    draw_labelled_boxes(
        photo,
        [thumb_box(c["box"], rec, photo) for c in crops],
        [colours[c["ratio"]] for c in crops],
        [crop_label(c) for c in crops],
        [3 if c["rank"] == 1 else 1 for c in crops],
        fonts["label"],
    )
    sheet.paste(photo, (MARGIN, y))
    x0 = MARGIN + THUMB_SIDE + GAP
    for n, crop in enumerate(rec["crops"]):
        cx = x0 + (n % CROPS_PER_ROW) * (CROP_CELL + GAP)
        cy = y + (n // CROPS_PER_ROW) * (CROP_CELL + CAPTION_H + GAP)
        image = crop_thumb(item, crop)
        scale = min(CROP_CELL / image.width, CROP_CELL / image.height)
        image = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.LANCZOS
        )
        sheet.paste(image, (cx, cy + CROP_CELL - image.height))
        colour = colours[crop["ratio"]]
        draw.rectangle((cx, cy + CROP_CELL, cx + image.width - 1, cy + CROP_CELL + 3), fill=colour)
        draw.text((cx, cy + CROP_CELL + 5), crop_label(crop), fill="#222", font=fonts["small"])
        draw_fitted(
            draw,
            (cx, cy + CROP_CELL + 19),
            str(crop["box"]),
            fonts["label"],
            CROP_CELL,
            fill="#777",
        )


def save_png(sheet: Image.Image, fh: IO[bytes]) -> None:
    """Write ``sheet`` as PNG with its header text as the file's ``Title``."""
    info = PngInfo()
    if "Title" in sheet.info:
        info.add_text("Title", sheet.info["Title"])
    sheet.save(fh, "PNG", pnginfo=info)


def render_png(
    records: Sequence[PhotoRecord],
    thumbnail: ThumbnailFn,
    *,
    title: str | None = "sacrop preview",
    start: int = 1,
) -> Image.Image:
    """The PNG sheet: one row per photo's record (at most :data:`MAX_PNG_PHOTOS`, then a
    note), numbered from ``start``; skipped inputs only counted in the title."""
    records, skipped = photos_of(records)
    shown = records[:MAX_PNG_PHOTOS]
    items = list(layout_items(shown, thumbnail, start))
    colours = ratio_colours(records)
    height = MARGIN + (TITLE_H if title else 0) + (GAP + LINE_H if len(records) > len(shown) else 0)
    height += (
        sum(
            row_height(it.record, it.thumb.size if it.thumb else None, bool(it.note))
            for it in items
        )
        + GAP * max(0, len(items) - 1)
        + MARGIN
    )
    sheet = Image.new("RGB", (sheet_width(shown), height), "white")
    draw = ImageDraw.Draw(sheet)
    fonts = {
        "title": load_font(18),
        "head": load_font(14),
        "small": load_font(12),
        "label": load_font(11),
    }
    y = MARGIN
    if title:
        failed = sum(r["status"] != "ok" for r in records)
        # drawn, and kept as the PNG's Title (save_png) so that a script can read it back
        sheet.info["Title"] = (
            f"{title}: {len(records)} photo(s), {failed} failed{skipped_text(skipped)}"
        )
        draw_fitted(
            draw, (MARGIN, y), sheet.info["Title"], fonts["title"], sheet.width - 2 * MARGIN
        )
        y += TITLE_H
    for item in items:
        _draw_item(sheet, draw, item, y, colours, fonts)
        y += row_height(item.record, item.thumb.size if item.thumb else None, bool(item.note)) + GAP
    if len(records) > len(shown):
        draw.text(
            (MARGIN, y),
            f"… and {len(records) - len(shown)} more photo(s): use an .html "
            "sheet or --preview-dir to see them all",
            fill="#c62828",
            font=fonts["small"],
        )
    return sheet
