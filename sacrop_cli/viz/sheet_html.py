"""The HTML preview sheet: one self-contained page (see :mod:`sacrop_cli.viz.sheets`)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import IO

from PIL import Image

from sacrop_cli._version import __version__
from sacrop_cli.record import CropRecord, PhotoRecord
from sacrop_cli.viz.drawing import (
    load_font,
    place_labels,
    text_size,
)
from sacrop_cli.viz.sheet_layout import (
    JPEG_QUALITY,
    PAGE_SIZE,
    Item,
    ThumbnailFn,
    by_importance,
    crop_label,
    crop_thumb,
    layout_items,
    photos_of,
    ratio_colours,
    skipped_text,
    thumb_box,
)

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


def _percent_style(box: Sequence[float], record: PhotoRecord) -> str:
    """CSS placing a box over the photo in percent of its size (follows any display size)."""
    x1, y1, x2, y2 = box[:4]
    w, h = record["width"], record["height"]
    return (
        f"left: {100 * x1 / w:.3f}%; top: {100 * y1 / h:.3f}%; "
        f"width: {100 * (x2 - x1) / w:.3f}%; height: {100 * (y2 - y1) / h:.3f}%"
    )


def _html_item(item: Item, colours: dict[str, str]) -> str:
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
            parts.extend(_frame(item, item.thumb, colours))
        parts.append('<div class="crops">')
        parts.extend(_figure(item, crop, colours) for crop in rec["crops"])
        parts.append("</div></div>")
    parts.append("</article>")
    return "\n".join(parts) + "\n"


def _frame(item: Item, thumb: Image.Image, colours: dict[str, str]) -> list[str]:
    """The photo's thumbnail with its faces and crops drawn over it, labels placed apart."""
    rec, esc = item.record, html.escape
    w, h = thumb.size
    parts = [
        f'<div class="frame" style="width: {w}px">'
        f'<img loading="lazy" decoding="async"'
        + _attrs(width=w, height=h, alt=rec["source"], src=_data_uri(thumb))
        + ">"
    ]
    for face in rec.get("faces") or []:
        style, box = _percent_style(face, rec), _box_text(face[:4])
        parts.append("<div" + _attrs(class_="face", style=style, data_box=box) + "></div>")
    crops = by_importance(rec["crops"])
    thumb_boxes = [thumb_box(c["box"], rec, thumb) for c in crops]
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
    return parts


def _figure(item: Item, crop: CropRecord, colours: dict[str, str]) -> str:
    """One crop: its own thumbnail, ratio and rank, box and file."""
    esc = html.escape
    image = ""
    if item.thumb is not None:
        image = (
            '<img loading="lazy" decoding="async"'
            + _attrs(alt=crop_label(crop), src=_data_uri(crop_thumb(item, crop)))
            + ">"
        )
    where = f'<br><code>{esc(crop["path"])}</code>' if crop.get("path") else ""
    return (
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


def write_html(
    records: Sequence[PhotoRecord],
    out: IO[str],
    thumbnail: ThumbnailFn,
    *,
    title: str = "sacrop preview",
    page_size: int = PAGE_SIZE,
) -> None:
    """Write the HTML sheet of ``records`` (one per photo, failed ones included; skipped
    inputs only counted) to ``out``."""
    records, skipped = photos_of(records)
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
        f'<p class="summary">{n} photo(s), {n - len(failed)} cropped, {len(failed)} failed'
        f"{skipped_text(skipped)}. "
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
    items = layout_items(records, thumbnail)
    for p, (a, b) in enumerate(pages, start=1):
        heading = f"Photos {a + 1}–{b} of {n}" if n else "No photos"
        out.write(f'<section class="page" id="page-{p}">\n<h2>{heading}</h2>\n')
        for _ in range(a, b):
            out.write(_html_item(next(items), colours))
        if len(pages) > 1:
            out.write(f"<nav>{nav}</nav>\n")
        out.write("</section>\n")
    out.write("</main>\n</body>\n</html>\n")
