"""``sacrop explain``: one photo's activation maps, best crops and top scores as a picture.

The network and Pillow are imported inside the command only (``sacrop --help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli.console import UI, level_from_flags
from sacrop_cli.cli.options import (
    hint_options,
    load_cropper,
    model_options,
    ratios_option,
    reports_errors,
)
from sacrop_cli.errors import SacropError
from sacrop_cli.hints import Hints, Point, Region
from sacrop_cli.io.atomic import atomic_write
from sacrop_cli.ratios import Ratio

if TYPE_CHECKING:
    from sacrop_cli.api import ModelSpec
    from sacrop_cli.viz import explain as viz_explain
else:
    viz_explain = lazy_module("sacrop_cli.viz.explain")

_PICTURE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}

EXPLAIN_HELP = """Show why a crop won: the network's view of one photo, as a picture.

The picture has the photo with the top candidates of each ratio drawn on it, the two
activation maps of the spatial-aware feature as heat maps (low-level: edges and texture;
high-level: salient objects) with the best crops on them, and the boxes and scores of the
top candidates. Weights of the basic model have no activation maps: only the crops are
shown, with a note.

\b
Examples:
  sacrop explain IMG_0001.jpg -o why.png
  sacrop explain IMG_0001.jpg --ratio 4:3 --ratio 1:1 --top-k 3 -o why.png
"""


def _check_out(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() not in _PICTURE_FORMATS:
        raise click.BadParameter(
            f"{value}: the picture's name must end in .png, .jpg or .webp", ctx, param
        )
    return value


@click.command("explain", help=EXPLAIN_HELP)
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@ratios_option
@click.option(
    "-k",
    "--top-k",
    "top",
    type=click.IntRange(1, 20),
    default=5,
    show_default=True,
    help="Candidates drawn and listed per ratio, best first (as `sacrop crop -k`).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_check_out,
    metavar="OUT.png",
    help="The picture to write.  [default: ./<name>.explain.png]",
)
@model_options
@hint_options
@click.option("-q", "--quiet", is_flag=True, help="Only print errors.")
@reports_errors
def explain(
    image: Path,
    ratios: tuple[Ratio, ...],
    top: int,
    out: Path | None,
    model: ModelSpec,
    keep: tuple[Region, ...],
    avoid: tuple[Region, ...],
    focus: Point | None,
    quiet: bool,
) -> None:
    ui = UI(level_from_flags(quiet, 0))
    out = out if out is not None else Path(f"{image.stem}.explain.png")
    if out.resolve() == image.resolve():
        raise click.UsageError(f"{out}: the picture would replace the photo; choose another -o")
    cropper = load_cropper(ui, model)
    try:
        result = viz_explain.explain(cropper, image, ratios, top, Hints(keep, avoid, focus))
    except ValueError as err:  # a hint outside the photo
        raise SacropError(f"{image}: {err}") from None
    picture = viz_explain.render(result, top)
    atomic_write(out, lambda fh: picture.save(fh, _PICTURE_FORMATS[out.suffix.lower()]))
    if result.maps is None:
        ui.warning(
            f"{cropper.weights_path}: basic model (no spatial-aware feature): "
            "no activation maps to show, only the crops"
        )
    from rich.text import Text  # plain text: boxes and file names are not markup

    for line in [*viz_explain.summary(result), f"wrote {out}"]:
        ui.print(Text(line))
