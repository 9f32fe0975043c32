"""``sacrop score``: the network's score of given boxes of one photo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli.console import UI, level_from_flags
from sacrop_cli.cli.options import (
    BoxType,
    box_pixels,
    load_cropper,
    model_options,
    parse_box,
    reports_errors,
)
from sacrop_cli.errors import SacropError

if TYPE_CHECKING:
    from sacrop_cli.api import ModelSpec
    from sacrop_cli import boxes as box_ops
else:
    box_ops = lazy_module("sacrop_cli.boxes")


SCORE_HELP = """Score given crop boxes of one photo (higher is better), one JSON line per box.

Boxes are x1,y1,x2,y2 in pixels of the upright photo (as it is displayed, EXIF
orientation applied), x2 and y2 exclusive, or in % of its width and height as --keep takes
them (--box 10%,0%,90%,100%, echoed in pixels). A box reaching outside the photo is clipped to
it, with a warning. Each output line is {"box": [x1, y1, x2, y2], "score": s}, in the
order given.

\b
Examples:
  sacrop score IMG_0001.jpg --box 0,0,800,600 --box 100,50,900,650
  sacrop score IMG_0001.jpg --boxes boxes.json     a JSON list of [x1, y1, x2, y2]
"""


def _read_boxes(ctx: click.Context, param: click.Parameter, value: Path | None) -> list | None:
    if value is None:
        return None
    try:
        data = json.loads(value.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise ValueError("expected a JSON list of [x1, y1, x2, y2]")
        return [
            parse_box(item["box"] if isinstance(item, dict) and "box" in item else item)
            for item in data
        ]
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise click.BadParameter(f"{value}: {err}", ctx, param) from None


def _clipped(box: list[float | int], width: int, height: int) -> list[float | int]:
    """``box`` inside the photo, each number of the type it was given (echoed as given)."""
    inside = box_ops.clip_boxes([float(v) for v in box], width, height).tolist()
    return [type(v)(c) for v, c in zip(box, inside)]


@click.command("score", help=SCORE_HELP)
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--box",
    "boxes",
    type=BoxType(),
    multiple=True,
    help="A box to score, in pixels or % of the photo's sides; repeatable.",
)
@click.option(
    "--boxes",
    "boxes_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    callback=_read_boxes,
    metavar="FILE.json",
    help='A JSON list of boxes: [[x1, y1, x2, y2], ...] (or objects with a "box").',
)
@model_options(faces=False)
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the scores: no warnings.")
@reports_errors
def score(
    image: Path,
    boxes: tuple[list, ...],
    boxes_file: list | None,
    model: ModelSpec,
    quiet: bool,
) -> None:
    import numpy as np

    given = [*boxes, *(boxes_file or [])]
    if not given:
        raise click.UsageError("give at least one --box x1,y1,x2,y2 or --boxes FILE.json")
    ui = UI(level_from_flags(quiet, 0))
    cropper = load_cropper(ui, model)
    photo = cropper.load(image)
    width, height = photo.full_size
    scored = []
    for box in (box_pixels(b, width, height) for b in given):
        clipped = _clipped(box, width, height)
        if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
            raise SacropError(f"{image}: box {box} is empty or outside the {width}x{height} photo")
        if clipped != box:
            ui.warning(
                f"{image}: box {box} reaches outside the {width}x{height} photo: "
                f"scored as {clipped}"
            )
        scored.append(clipped)
    scores = cropper.score_many([photo], [np.asarray(scored, dtype=np.float64)])[0]
    for box, value in zip(scored, scores):
        click.echo(json.dumps({"box": box, "score": round(float(value), 4)}))
