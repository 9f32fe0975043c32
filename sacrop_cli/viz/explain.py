"""Why a crop won: the spatial-aware feature's activation maps and the top candidates' scores.

The full model summarises each photo as two activation maps (``ImageFeatures.maps``): a
low-level one from the stride-8 features, which follows edges and texture, and a high-level one
from the stride-32 features, which follows salient objects. The spatial-aware feature encodes
where a crop lies relative to both. :func:`render` shows them as heat maps over the photo with
the best crop of each ratio drawn on top, and lists the scores of the top candidates; the basic
model (``--basic`` checkpoints) has no such maps, so only the crops are shown, with a note.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from sacrop_cli.api import Crop, Cropper, as_ratios
from sacrop_cli.faces import face_list
from sacrop_cli.hints import Hints
from sacrop_cli.ratios import Ratio
from sacrop_cli.viz.drawing import (
    PALETTE,
    draw_faces,
    draw_fitted,
    draw_labelled_boxes,
    load_font,
    text_size,
    thumb_size,
)

PANEL_SIDE = 360  # long side of each panel
MARGIN, GAP = 16, 14
TITLE_H, PANEL_TITLE_H, LINE_H = 28, 22, 18
COLUMN_W = 300  # width of one ratio's list of candidates
MIN_WIDTH = 2 * COLUMN_W + 2 * MARGIN
MAP_TITLES = ("Low-level map (edges)", "High-level map (salient objects)")
BASIC_NOTE = (
    "basic model (no spatial-aware feature): these weights have no activation maps, "
    "only the crops are shown"
)
# "inferno"-like colormap: dark purple for no activation through red and orange to pale yellow
_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_COLOURS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float64
)


@dataclass
class Explanation:
    """What the network saw of one photo and what it preferred."""

    source: str
    image: Image.Image  # the upright photo, reduced
    full_size: tuple[int, int]  # upright full-resolution (width, height): the boxes' pixels
    maps: np.ndarray | None  # [2, grid, grid] in [0, 1] (low-level, high-level); None if basic
    crops: list[Crop]  # the top candidates of each ratio, best first within a ratio
    ratios: list[str]  # the ratio labels, in the order asked for
    weights: str
    faces: np.ndarray | None = None  # [N, 5] found faces (full-resolution); None: not looked for


def explain(
    cropper: Cropper,
    path: str | Path,
    ratios: Iterable[str | Ratio] = ("any",),
    top: int = 5,
    hints: Hints | None = None,
) -> Explanation:
    """Score ``path``'s candidates (``top`` best per ratio, as ``sacrop crop -k`` would pick
    them, with a person's ``hints``) and compute its activation maps."""
    wanted = as_ratios(ratios)
    photo = cropper.load(path)
    encoded = cropper.encode([photo])
    crops = encoded.best_crops([wanted], top, [hints])[0]
    maps = encoded.maps()[0]
    weights = cropper.weights_path.name if cropper.weights_path is not None else "in-memory model"
    return Explanation(
        str(path),
        photo.image,
        photo.full_size,
        maps,
        crops,
        [r.label for r in wanted],
        weights,
        photo.faces,
    )


def heat_colours(values: np.ndarray) -> np.ndarray:
    """``uint8 [..., 3]`` colours of ``values`` in [0, 1] (clipped)."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    channels = [np.interp(v, _STOPS, _COLOURS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)


def overlay(photo: Image.Image, amap: np.ndarray) -> Image.Image:
    """``amap`` (``[g, g]`` in [0, 1], covering the whole photo) as a heat map over ``photo``:
    opaque where the activation is high, the photo showing through where it is low."""
    values = np.asarray(
        Image.fromarray(np.asarray(amap, dtype=np.float32), "F").resize(photo.size, Image.BILINEAR),
        dtype=np.float64,
    ).clip(0, 1)
    alpha = (0.3 + 0.6 * values)[..., None]
    base = np.asarray(photo.convert("RGB"), dtype=np.float64)
    mixed = base * (1 - alpha) + heat_colours(values).astype(np.float64) * alpha
    return Image.fromarray(np.rint(mixed).astype(np.uint8), "RGB")


def layout(full_size: tuple[int, int], n_ratios: int, top: int, spatial: bool) -> dict[str, int]:
    """Sizes of the parts of the picture (all in pixels): panels, text block, total."""
    pw, ph = thumb_size(*full_size, PANEL_SIDE)
    panels = 3 if spatial else 1
    width = max(MIN_WIDTH, 2 * MARGIN + panels * pw + (panels - 1) * GAP)
    per_row = max(1, (width - 2 * MARGIN) // COLUMN_W)
    blocks = -(-n_ratios // per_row)  # rows of ratio columns
    text = blocks * (1 + top) * LINE_H
    # one line under the panels: the heat maps' colour scale, or the basic model's note
    height = MARGIN + TITLE_H + PANEL_TITLE_H + ph + 4 + LINE_H + GAP + text + MARGIN
    return {
        "panel_w": pw,
        "panel_h": ph,
        "panels": panels,
        "per_row": per_row,
        "width": width,
        "height": height,
    }


def render(expl: Explanation, top: int = 5) -> Image.Image:
    """The picture: photo with the top crops, the two heat maps with the best crops, and the
    top ``top`` candidates' boxes and scores per ratio."""
    spatial = expl.maps is not None
    geo = layout(expl.full_size, len(expl.ratios), top, spatial)
    out = Image.new("RGB", (geo["width"], geo["height"]), "white")
    draw = ImageDraw.Draw(out)
    fonts = {
        "title": load_font(17),
        "head": load_font(13),
        "text": load_font(12),
        "label": load_font(11),
    }
    colours = {r: PALETTE[i % len(PALETTE)] for i, r in enumerate(expl.ratios)}
    w, h = expl.full_size

    y = MARGIN
    draw_fitted(
        draw,
        (MARGIN, y),
        f"sacrop explain: {expl.source}  ({w} x {h}, weights {expl.weights})",
        fonts["title"],
        out.width - 2 * MARGIN,
    )
    y += TITLE_H

    y = _draw_panels(out, draw, expl, geo, y, fonts, colours)
    _draw_candidates(draw, expl, geo, y, top, fonts, colours)
    return out


def _draw_panels(
    out: Image.Image,
    draw: ImageDraw.ImageDraw,
    expl: Explanation,
    geo: dict[str, int],
    y: int,
    fonts: dict[str, Any],
    colours: dict[str, str],
) -> int:
    """The photo with its top crops and the heat maps with the best crops, side by side, and
    the colour scale under them; returns where the next row starts."""
    spatial = expl.maps is not None
    pw, ph = geo["panel_w"], geo["panel_h"]
    w, h = expl.full_size
    photo = expl.image.convert("RGB").resize((pw, ph), Image.LANCZOS, reducing_gap=2.0)
    sx, sy = pw / w, ph / h

    def scaled(crop: Crop) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = crop.box
        return x1 * sx, y1 * sy, x2 * sx, y2 * sy

    ordered = sorted(expl.crops, key=lambda c: c.rank)  # rank 1 of every ratio first
    best = [c for c in ordered if c.rank == 1]
    panels = [("Top crops", photo, ordered)]
    if spatial:
        panels += [
            (title, overlay(photo, expl.maps[i]), best) for i, title in enumerate(MAP_TITLES)
        ]
    for n, (title, image, crops) in enumerate(panels):
        x = MARGIN + n * (pw + GAP)
        draw_fitted(draw, (x, y + 2), title, fonts["head"], pw)
        image = image.copy()
        if expl.faces is not None:
            draw_faces(image, [(f[0] * sx, f[1] * sy, f[2] * sx, f[3] * sy) for f in expl.faces])
        draw_labelled_boxes(
            image,
            [scaled(c) for c in crops],
            [colours[c.ratio] for c in crops],
            [f"{c.ratio} #{c.rank}" for c in crops],
            [3 if c.rank == 1 else 1 for c in crops],
            fonts["label"],
        )
        out.paste(image, (x, y + PANEL_TITLE_H))
    y += PANEL_TITLE_H + ph + 4
    if spatial:  # the colour scale, under the maps
        text = "activation (each map scaled to a peak of 1):  low"
        x = MARGIN + pw + GAP
        draw.text((x, y + 2), text, fill="#555", font=fonts["text"])
        x += text_size(text, fonts["text"])[0] + 6
        bar = Image.fromarray(
            np.repeat(heat_colours(np.linspace(0, 1, 80))[None], 10, axis=0), "RGB"
        )
        out.paste(bar, (x, y + 4))
        draw.text((x + bar.width + 6, y + 2), "high", fill="#555", font=fonts["text"])
    else:
        draw_fitted(
            draw, (MARGIN, y + 2), BASIC_NOTE, fonts["text"], out.width - 2 * MARGIN, fill="#c62828"
        )
    y += LINE_H + GAP

    return y


def _draw_candidates(
    draw: ImageDraw.ImageDraw,
    expl: Explanation,
    geo: dict[str, int],
    y: int,
    top: int,
    fonts: dict[str, Any],
    colours: dict[str, str],
) -> None:
    """The top candidates' scores and boxes, a column per ratio."""
    for i, ratio in enumerate(expl.ratios):
        x = MARGIN + (i % geo["per_row"]) * COLUMN_W
        ty = y + (i // geo["per_row"]) * (1 + top) * LINE_H
        cands = [c for c in expl.crops if c.ratio == ratio]
        draw.text(
            (x, ty),
            f"{ratio}: top {len(cands)} candidate(s)",
            fill=colours[ratio],
            font=fonts["head"],
        )
        for c in cands:
            ty += LINE_H
            draw.text(
                (x, ty),
                f"#{c.rank}  score {c.score:+.4f}  {list(c.box)}",
                fill="#222",
                font=fonts["text"],
            )


def summary(expl: Explanation) -> Sequence[str]:
    """A line for the faces found, then one per ratio: its best crop and score, and its note
    (for the terminal)."""
    lines = []
    if expl.faces is not None:
        lines.append(f"faces: {face_list(expl.faces) or 'none found'}")
    for c in expl.crops:
        if c.rank == 1:
            note = f" ({c.note})" if c.note else ""
            lines.append(f"{c.ratio}: best {list(c.box)} score {c.score:.4f}{note}")
    return lines
