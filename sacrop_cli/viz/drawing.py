"""The drawing kit shared by the preview sheets and ``sacrop explain``: thumbnail sizes, the
ratios' colours, the font (DejaVu Sans, shipped), and crop rectangles with labels that do not
cover each other."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

THUMB_SIDE = 320  # long side of the photo thumbnails, in pixels
#: The sheets' font, shipped in the package with its licence (``fonts/LICENSE-DejaVu``).
FONT = Path(__file__).with_name("fonts") / "DejaVuSans.ttf"
#: One colour per ratio, in the order the ratios were asked for.
PALETTE = ("#e6194b", "#4363d8", "#3cb44b", "#f58231", "#911eb4", "#f032e6", "#008080", "#9a6324")


def thumb_size(width: int, height: int, long_side: int = THUMB_SIDE) -> tuple[int, int]:
    """Thumbnail size of a ``width x height`` photo: long side ``long_side``, never enlarged."""
    scale = min(1.0, long_side / max(width, height))
    return max(1, int(width * scale + 0.5)), max(1, int(height * scale + 0.5))


def place_labels(
    boxes: Sequence[Sequence[float]],
    sizes: Sequence[tuple[float, float]],
    bounds: tuple[float, float],
) -> list[tuple[float, float]]:
    """Top-left corners for the labels of ``boxes`` (thumbnail pixels, most important first)
    so that they do not cover each other: inside each box's top-left corner, else moved down
    one label height at a time, else at its bottom; overlapping only when nothing fits."""
    placed: list[tuple[float, float, float, float]] = []
    corners = []
    for (x1, y1, x2, y2), (w, h) in zip(boxes, sizes):
        x = max(0.0, min(x1, bounds[0] - w))
        tries = [y1 + k * h for k in range(max(1, int((y2 - y1) // h)))] + [y2 - h]
        tries = [min(max(0.0, y), bounds[1] - h) for y in tries]
        free = [
            y
            for y in tries
            if all(x + w <= a or a + c <= x or y + h <= b or b + d <= y for a, b, c, d in placed)
        ]
        y = free[0] if free else tries[0]
        placed.append((x, y, w, h))
        corners.append((x, y))
    return corners


@functools.lru_cache(maxsize=16)
def load_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """DejaVu Sans (shipped, :data:`FONT`) at ``size`` pixels: photo names in any script
    (accents, Greek, Cyrillic...) draw as letters, where Pillow's built-in font draws boxes.
    Pillow's font when FreeType is missing."""
    try:
        return ImageFont.truetype(str(FONT), size)
    except (OSError, ImportError):  # a Pillow built without FreeType
        try:
            return ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1: one bitmap size only
            return ImageFont.load_default()


def fit_text(draw: ImageDraw.ImageDraw, text: str, font: Any, width: float) -> str:
    """``text`` shortened with an ellipsis in the middle until it fits in ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    keep = len(text)
    while keep > 1:
        keep -= 1
        short = text[: keep // 3] + "…" + text[len(text) - (keep - keep // 3) :]
        if draw.textlength(short, font=font) <= width:
            return short
    return "…"


def draw_fitted(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font: Any,
    width: float,
    fill: str = "#222",
) -> None:
    """``text`` drawn at ``xy``, shortened by :func:`fit_text` to ``width`` pixels."""
    draw.text(xy, fit_text(draw, text, font, width), fill=fill, font=font)


def text_size(text: str, font: Any) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def draw_labelled_boxes(
    image: Image.Image,
    boxes: Sequence[Sequence[float]],
    colours: Sequence[str],
    texts: Sequence[str],
    widths: Sequence[int],
    font: Any,
) -> None:
    """Crop rectangles (exclusive ends, image pixels; most important first, drawn on top) and
    their labels, placed by :func:`place_labels` and drawn over every rectangle."""
    draw = ImageDraw.Draw(image)
    for (x1, y1, x2, y2), colour, width in reversed(list(zip(boxes, colours, widths))):
        draw.rectangle(
            (round(x1), round(y1), max(round(x1), round(x2) - 1), max(round(y1), round(y2) - 1)),
            outline=colour,
            width=width,
        )
    sizes = [(w + 6, h + 5) for w, h in (text_size(t, font) for t in texts)]
    inset = [(b[0] + wd, b[1] + wd, b[2] - wd, b[3] - wd) for b, wd in zip(boxes, widths)]
    for (x, y), (w, h), colour, text in zip(
        place_labels(inset, sizes, image.size), sizes, colours, texts
    ):
        x, y = round(x), round(y)
        left, top, _, _ = font.getbbox(text)
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=colour)
        draw.text((x + 3 - left, y + 2 - top), text, fill="white", font=font)


def draw_faces(image: Image.Image, boxes: Sequence[Sequence[float]]) -> None:
    """Found faces (image pixels) as thin white rectangles edged in black, visible on any photo;
    drawn before the crops, which stay on top."""
    draw = ImageDraw.Draw(image)
    for x1, y1, x2, y2 in boxes:
        x1, y1 = round(x1), round(y1)
        x2, y2 = max(x1, round(x2) - 1), max(y1, round(y2) - 1)
        draw.rectangle((x1 - 1, y1 - 1, x2 + 1, y2 + 1), outline="black", width=1)
        draw.rectangle((x1, y1, x2, y2), outline="white", width=1)
