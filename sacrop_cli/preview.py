"""Preview sheets: every photo of a run, small, with its chosen crops drawn on it.

Built from the pipeline's manifest records alone (boxes are upright full-resolution pixels), so a
sheet can be made for a ``--dry-run`` or from a saved manifest. Each source is decoded once more
at reduced size (JPEG draft) after the run: simpler than threading thumbnails through the
pipeline, and cheap next to the full decode that writing the crops needs.

Two renderings share the layout ideas: the photo, its top crops as coloured rectangles labelled
``ratio #rank score`` (one colour per ratio, rank 1 drawn thicker), and the crops beside it.

- HTML: one self-contained file (JPEG thumbnails as ``data:`` URIs, quality 80) that scales to
  hundreds of photos. Boxes are absolutely positioned ``<div>``s in percent of the photo, so
  labels size themselves to their text and follow the thumbnail at any display size. Photos
  come in pages of :data:`PAGE_SIZE` (``<section id="page-N">``); CSS ``:target`` shows one
  page at a time without scripts (a browser without CSS ``:has`` also keeps page 1 shown),
  and images carry ``loading="lazy"``, so a browser only decodes the page on screen. The file
  is written as it is built: memory holds one thumbnail at a time. Every input has an
  ``<article>`` with ``data-source``/``data-status``/
  ``data-error``; every crop has ``data-ratio``/``data-rank``/``data-box``/``data-score``.
- PNG: one image (at most :data:`MAX_PNG_PHOTOS` rows, since it is held in memory), or one
  image per photo for ``--preview-dir``.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from PIL import Image, ImageDraw

from sacrop_cli._version import __version__
from sacrop_cli.atomic import atomic_write
from sacrop_cli.drawing import (
    PALETTE,
    THUMB_SIDE,
    draw_faces,
    draw_fitted,
    draw_labelled_boxes,
    load_font,
    place_labels,
    text_size,
    thumb_size,
)
from sacrop_cli.errors import SacropError

JPEG_QUALITY = 80
PAGE_SIZE = 50  # photos per HTML page
MAX_PNG_PHOTOS = 100  # a taller PNG sheet would need hundreds of MB: use HTML or --preview-dir
#: One colour per ratio, in order of first appearance; all dark enough for white label text.
SHEET_EXTENSIONS = (".html", ".htm", ".png")

# PNG layout, in pixels
MARGIN, GAP = 16, 12
TITLE_H, HEADER_H, LINE_H = 30, 22, 18
CROP_CELL, CAPTION_H, CROPS_PER_ROW = 140, 34, 4


def sheet_width(records: Sequence[dict[str, Any]]) -> int:
    """PNG width: the thumbnail column and as many crop columns as the busiest photo needs
    (1 to :data:`CROPS_PER_ROW`)."""
    columns = min(CROPS_PER_ROW, max([len(r["crops"]) for r in records] + [1]))
    return MARGIN + THUMB_SIDE + GAP + columns * CROP_CELL + (columns - 1) * GAP + MARGIN


#: ``thumbnail(record)`` -> the upright photo at reduced size; raises SacropError/OSError.
ThumbnailFn = Callable[[dict[str, Any]], Image.Image]


def thumbnail_loader(long_side: int = THUMB_SIDE, max_pixels: int | None = None) -> ThumbnailFn:
    """Thumbnails decoded from each record's source at reduced size, upright, RGB."""
    from sacrop_cli.imageio import DEFAULT_MAX_PIXELS, open_for_analysis

    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels

    def load(record: dict[str, Any]) -> Image.Image:
        image, _ = open_for_analysis(Path(record["source"]), long_side, max_pixels=limit)
        return image.resize(
            thumb_size(record["width"], record["height"], long_side),
            Image.LANCZOS,
            reducing_gap=2.0,
        )

    return load


def ratio_colours(records: Iterable[dict[str, Any]]) -> dict[str, str]:
    """A palette colour for each ratio label, in order of first appearance."""
    colours: dict[str, str] = {}
    for record in records:
        for crop in record["crops"]:
            if crop["ratio"] not in colours:
                colours[crop["ratio"]] = PALETTE[len(colours) % len(PALETTE)]
    return colours


def crop_label(crop: dict[str, Any]) -> str:
    return f"{crop['ratio']} #{crop['rank']} {crop['score']:.3f}"


@dataclass
class _Item:
    """One record ready to draw: its thumbnail, or why there is none."""

    index: int  # 1-based position in the input order
    record: dict[str, Any]
    thumb: Image.Image | None
    note: str | None  # the photo was read during the run but not now


def _items(
    records: Sequence[dict[str, Any]], thumbnail: ThumbnailFn, start: int = 1
) -> Iterator[_Item]:
    """Records with their thumbnails, loaded one at a time; numbered from ``start``."""
    for index, record in enumerate(records, start=start):
        thumb = note = None
        if record.get("width") and record.get("height"):  # decodable during the run
            try:
                thumb = thumbnail(record)
            except (SacropError, OSError) as err:
                note = f"no thumbnail: {str(err).strip() or type(err).__name__}"
        yield _Item(index, record, thumb, note)


def _thumb_box(
    box: Sequence[float], record: dict[str, Any], thumb: Image.Image
) -> tuple[float, ...]:
    """A box in full-resolution pixels -> the same box in thumbnail pixels."""
    sx, sy = thumb.width / record["width"], thumb.height / record["height"]
    return box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy


def _crop_thumb(item: _Item, crop: dict[str, Any]) -> Image.Image:
    x1, y1, x2, y2 = _thumb_box(crop["box"], item.record, item.thumb)
    x1, y1 = int(x1), int(y1)
    return item.thumb.crop((x1, y1, max(x1 + 1, round(x2)), max(y1 + 1, round(y2))))


def _by_importance(crops: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Crops ordered rank 1 first (of every ratio), then rank 2...: whose label wins a spot."""
    return sorted(crops, key=lambda c: c["rank"])


# ---------------------------------------------------------------------------------------------
# HTML

_CSS = """
:root { font: 14px/1.4 system-ui, sans-serif; color: #222; background: #f4f4f4; }
body { margin: 0 16px 32px; }
h1 { font-size: 20px; margin: 16px 0 4px; }
h2 { font-size: 16px; margin: 20px 0 8px; }
h3 { font-size: 14px; margin: 0 0 6px; overflow-wrap: anywhere; }
.size { color: #777; font-weight: normal; margin-left: 8px; }
.key { display: inline-block; color: #fff; background: var(--c); padding: 0 6px;
       border-radius: 3px; }
nav a { margin-right: 8px; }
.page { display: none; }
.page:first-of-type, .page:target { display: block; }
main:has(.page:target) .page:first-of-type:not(:target) { display: none; }
.photo { background: #fff; border-radius: 6px; padding: 10px; margin: 0 0 12px;
         box-shadow: 0 1px 2px #0002; }
.photo.error { border-left: 4px solid #c62828; }
.error-text { color: #c62828; margin: 0 0 6px; overflow-wrap: anywhere; }
.note { color: #777; margin: 0 0 6px; }
.row { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.frame { position: relative; line-height: 0; max-width: 100%; }
.frame img { display: block; max-width: 100%; height: auto; }
.box { position: absolute; box-sizing: border-box; border: 1.5px dashed var(--c); }
.box.best { border: 3px solid var(--c); }
.face { position: absolute; box-sizing: border-box; border: 1px solid #fff;
        outline: 1px solid #000; }
.label { position: absolute; z-index: 1; font: 11px/1.3 system-ui, sans-serif;
         color: #fff; background: var(--c); padding: 0 3px; white-space: nowrap; }
.crops { display: flex; flex-wrap: wrap; gap: 10px; }
.crop { margin: 0; font-size: 12px; }
.crop img { display: block; height: 120px; width: auto; border-bottom: 4px solid var(--c); }
.crop figcaption { color: #555; }
.crop code { font-size: 11px; }
details.errors { margin: 8px 0; color: #c62828; }
"""


def _attrs(**values: object) -> str:
    """`` name="value"`` pairs, escaped; ``data_x`` becomes ``data-x``; None is left out."""
    return "".join(
        f' {k.rstrip("_").replace("_", "-")}="{html.escape(str(v), quote=True)}"'
        for k, v in values.items()
        if v is not None
    )


def _data_uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _box_text(box: Sequence[float]) -> str:
    return ",".join(str(v) for v in box)


def _percent_style(box: Sequence[float], record: dict[str, Any]) -> str:
    """CSS placing a box over the photo in percent of its size (follows any display size)."""
    x1, y1, x2, y2 = box[:4]
    w, h = record["width"], record["height"]
    return (
        f"left: {100 * x1 / w:.3f}%; top: {100 * y1 / h:.3f}%; "
        f"width: {100 * (x2 - x1) / w:.3f}%; height: {100 * (y2 - y1) / h:.3f}%"
    )


def _html_item(item: _Item, colours: dict[str, str]) -> str:
    rec, esc = item.record, html.escape
    parts = [
        f'<article class="photo {"ok" if rec["status"] == "ok" else "error"}"'
        + _attrs(
            id=f"photo-{item.index}",
            data_index=item.index,
            data_source=rec["source"],
            data_status=rec["status"],
            data_error=rec.get("error"),
            data_width=rec.get("width"),
            data_height=rec.get("height"),
        )
        + ">"
    ]
    size = f'<span class="size">{rec["width"]} × {rec["height"]}</span>' if rec.get("width") else ""
    parts.append(f'<h3>{item.index}. {esc(rec["source"])}{size}</h3>')
    if rec.get("error"):
        parts.append(f'<p class="error-text">{esc(rec["error"])}</p>')
    if item.note:
        parts.append(f'<p class="note">{esc(item.note)}</p>')
    if rec["crops"]:
        parts.append('<div class="row">')
        if item.thumb is not None:
            w, h = item.thumb.size
            parts.append(
                f'<div class="frame" style="width: {w}px">'
                f'<img loading="lazy" decoding="async"'
                + _attrs(width=w, height=h, alt=rec["source"], src=_data_uri(item.thumb))
                + ">"
            )
            for face in rec.get("faces") or []:
                parts.append(
                    '<div'
                    + _attrs(
                        class_="face", style=_percent_style(face, rec), data_box=_box_text(face[:4])
                    )
                    + "></div>"
                )
            crops = _by_importance(rec["crops"])
            thumb_boxes = [_thumb_box(c["box"], rec, item.thumb) for c in crops]
            # label sizes measured with Pillow's font of about the browser's 11 px text
            sizes = [(text_size(crop_label(c), load_font(11))[0] + 6, 15) for c in crops]
            corners = place_labels(thumb_boxes, sizes, (w, h))
            for crop, tbox, (lx, ly) in zip(crops, thumb_boxes, corners):
                label = f"left: {lx - tbox[0]:.0f}px; top: {ly - tbox[1]:.0f}px"
                style = f"--c: {colours[crop['ratio']]}; {_percent_style(crop['box'], rec)}"
                parts.append(
                    '<div'
                    + _attrs(
                        class_="box best" if crop["rank"] == 1 else "box",
                        style=style,
                        data_ratio=crop["ratio"],
                        data_rank=crop["rank"],
                        data_box=_box_text(crop["box"]),
                        data_score=crop["score"],
                    )
                    + f'><span class="label" style="{label}">{esc(crop_label(crop))}</span></div>'
                )
            parts.append("</div>")
        parts.append('<div class="crops">')
        for crop in rec["crops"]:
            image = ""
            if item.thumb is not None:
                image = (
                    '<img loading="lazy" decoding="async"'
                    + _attrs(alt=crop_label(crop), src=_data_uri(_crop_thumb(item, crop)))
                    + ">"
                )
            where = f'<br><code>{esc(crop["path"])}</code>' if crop.get("path") else ""
            parts.append(
                '<figure'
                + _attrs(
                    class_="crop",
                    style=f"--c: {colours[crop['ratio']]}",
                    data_ratio=crop["ratio"],
                    data_rank=crop["rank"],
                    data_box=_box_text(crop["box"]),
                    data_score=crop["score"],
                )
                + f'>{image}<figcaption>{esc(crop_label(crop))}<br>'
                f'<code>[{esc(", ".join(map(str, crop["box"])))}]</code>{where}'
                "</figcaption></figure>"
            )
        parts.append("</div></div>")
    parts.append("</article>")
    return "\n".join(parts) + "\n"


def write_html(
    records: Sequence[dict[str, Any]],
    out: IO[str],
    thumbnail: ThumbnailFn,
    *,
    title: str = "sacrop preview",
    page_size: int = PAGE_SIZE,
) -> None:
    """Write the HTML sheet of ``records`` (one per input, failed ones included) to ``out``."""
    esc, n = html.escape, len(records)
    colours = ratio_colours(records)
    failed = [(i, r) for i, r in enumerate(records, start=1) if r["status"] != "ok"]
    pages = [(first, min(first + page_size, n)) for first in range(0, n, page_size)] or [(0, 0)]
    nav = " ".join(
        f'<a href="#page-{p}">{a + 1}–{b}</a>' for p, (a, b) in enumerate(pages, start=1)
    )
    out.write(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="sacrop {esc(__version__)}">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<header>\n"
        f"<h1>{esc(title)}</h1>\n"
        f'<p class="summary">{n} photo(s), {n - len(failed)} cropped, {len(failed)} failed. '
        + "Ratios: "
        + (
            " ".join(
                f'<span class="key" style="--c: {c}">{esc(r)}</span>' for r, c in colours.items()
            )
            or "none"
        )
        + ". Rank 1 has a solid frame, the others a dashed one.</p>\n"
    )
    if len(pages) > 1:
        out.write(f'<nav class="pages">Pages of {page_size}: {nav}</nav>\n')
    if failed:
        out.write(f'<details class="errors" open><summary>{len(failed)} failed</summary><ul>\n')
        for i, rec in failed:
            page = (i - 1) // page_size + 1
            out.write(
                f'<li><a href="#page-{page}">{esc(rec["source"])}</a>: '
                f'{esc(rec.get("error") or "")}</li>\n'
            )
        out.write("</ul></details>\n")
    out.write('</header>\n<main id="pages">\n')
    items = _items(records, thumbnail)
    for p, (a, b) in enumerate(pages, start=1):
        heading = f"Photos {a + 1}–{b} of {n}" if n else "No photos"
        out.write(f'<section class="page" id="page-{p}">\n<h2>{heading}</h2>\n')
        for _ in range(a, b):
            out.write(_html_item(next(items), colours))
        if len(pages) > 1:
            out.write(f"<nav>{nav}</nav>\n")
        out.write("</section>\n")
    out.write("</main>\n</body>\n</html>\n")


# ---------------------------------------------------------------------------------------------
# PNG


def _crop_rows(n: int) -> int:
    return (n + CROPS_PER_ROW - 1) // CROPS_PER_ROW


def row_height(record: dict[str, Any], thumb: tuple[int, int] | None, note: bool = False) -> int:
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
    item: _Item,
    top: int,
    colours: dict[str, str],
    fonts: dict[str, Any],
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
    draw_faces(photo, [_thumb_box(f, rec, photo) for f in rec.get("faces") or []])
    crops = _by_importance(rec["crops"])
    draw_labelled_boxes(
        photo,
        [_thumb_box(c["box"], rec, photo) for c in crops],
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
        image = _crop_thumb(item, crop)
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


def render_png(
    records: Sequence[dict[str, Any]],
    thumbnail: ThumbnailFn,
    *,
    title: str | None = "sacrop preview",
    start: int = 1,
) -> Image.Image:
    """The PNG sheet: one row per record (at most :data:`MAX_PNG_PHOTOS`, then a note),
    numbered from ``start``."""
    shown = records[:MAX_PNG_PHOTOS]
    items = list(_items(shown, thumbnail, start))
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
        draw_fitted(
            draw,
            (MARGIN, y),
            f"{title}: {len(records)} photo(s), {failed} failed",
            fonts["title"],
            sheet.width - 2 * MARGIN,
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


# ---------------------------------------------------------------------------------------------
# Files


def write_preview(
    records: Sequence[dict[str, Any]], path: Path, thumbnail: ThumbnailFn
) -> list[str]:
    """Write the sheet to ``path`` (``.html``/``.htm`` or ``.png``, atomically); return warnings."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SHEET_EXTENSIONS:
        raise ValueError(f"{path}: a preview sheet must end in .html or .png")
    if suffix == ".png":
        sheet = render_png(records, thumbnail)
        atomic_write(path, lambda fh: sheet.save(fh, "PNG"))
        if len(records) > MAX_PNG_PHOTOS:
            return [
                f"{path}: the PNG sheet shows the first {MAX_PNG_PHOTOS} of {len(records)} "
                "photos; use an .html sheet or --preview-dir for all of them"
            ]
        return []

    def write(fh: IO[bytes]) -> None:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="\n")
        write_html(records, text, thumbnail)
        text.flush()
        text.detach()

    atomic_write(path, write)
    return []


def preview_names(records: Sequence[dict[str, Any]]) -> list[Path]:
    """Relative ``<stem>.preview.png`` paths, one per record, mirroring the sources' folders
    below their common ancestor (``-2``, ``-3``... when two sources share a stem)."""
    sources = [Path(os.path.abspath(r["source"])) for r in records]
    if not sources:
        return []
    common = Path(os.path.commonpath([str(s.parent) for s in sources]))
    names: list[Path] = []
    taken: set[Path] = set()
    for src in sources:
        folder, n = src.parent.relative_to(common), 1
        while (name := folder / f"{src.stem}{'' if n == 1 else f'-{n}'}.preview.png") in taken:
            n += 1
        taken.add(name)
        names.append(name)
    return names


def write_preview_dir(
    records: Sequence[dict[str, Any]], folder: Path, thumbnail: ThumbnailFn
) -> list[Path]:
    """One PNG per record (failed ones show their error) under ``folder``; returns the paths."""
    written = []
    for index, (record, name) in enumerate(zip(records, preview_names(records)), start=1):
        image = render_png([record], thumbnail, title=None, start=index)
        written.append(atomic_write(Path(folder) / name, lambda fh: image.save(fh, "PNG")))
    return written
