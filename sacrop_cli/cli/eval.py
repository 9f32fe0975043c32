"""``sacrop eval``: a thin layer over :mod:`sacrop_cli.train.evaluate` (the papers' protocols)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli.console import UI, level_from_flags
from sacrop_cli.cli.learn import eval_reviews
from sacrop_cli.cli.options import model_options, reports_errors

if TYPE_CHECKING:
    from sacrop_cli.api import Cropper, ModelSpec
    from sacrop_cli.train import datasets
    from sacrop_cli.train import evaluate as evaluation
else:
    datasets = lazy_module("sacrop_cli.train.datasets")
    evaluation = lazy_module("sacrop_cli.train.evaluate")

_dir = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command("eval")
@click.option(
    "--fcdb",
    type=_dir,
    help="FCDB-style folder (images + cropping_*_set.json [+ ranking_annotation.json]).",
)
@click.option("--gaicd", type=_dir, help="GAICD folder (original or JSON layout).")
@click.option(
    "--reviews",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    metavar="FILE",
    help="`sacrop review` manifests: how often rank 1 is the crop the person chose "
    "(JSON on standard output).",
)
@click.option(
    "--split",
    type=click.Choice(["test", "train", "all"]),
    default="test",
    show_default=True,
    help="GAICD split to evaluate.",
)
@model_options(refine="Score the candidates' own boxes, as `sacrop crop --no-refine`.")
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Photos per network pass, as `sacrop crop` batches them (same boxes at any size).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every figure and the per-image values (boxes, scores) as JSON.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or warnings: the results only.")
@click.option(
    "-v", "--verbose", count=True, help="More messages on stderr (-vv: debugging details)."
)
@reports_errors
def evaluate(
    fcdb: Path | None,
    gaicd: Path | None,
    reviews: tuple[Path, ...],
    split: str,
    model: ModelSpec,
    batch_size: int,
    json_out: Path | None,
    quiet: bool,
    verbose: int,
) -> None:
    """Measure crops against human labels (the papers' protocols).

    The results table goes to standard output, progress and warnings to standard error. Photos
    the weights were trained on are counted and warned about (their figures flatter the model).

    \b
    FCDB: IoU and Disp of the free-ratio top-1, IoU when told the human crop's ratio, and
          agreement with human-voted pairs (decisive 5-0/4-1, and all).
    GAICD: Acc_K/N (K=1..4, N=5,10), Acc5, Acc10, wAcc, mean per-image SRCC and PCC.
    \b
    Examples:
      sacrop eval --fcdb data/fcdb-test --json fcdb.json
      sacrop eval --gaicd GAICD/ --split test
      sacrop eval --reviews review.jsonl --weights mine.pt
    """
    ui = UI(level_from_flags(quiet, verbose))
    if bool(gaicd) + bool(fcdb) + bool(reviews) != 1:
        raise click.UsageError("give exactly one of --fcdb DIR, --gaicd DIR or --reviews FILE")
    if reviews:
        eval_reviews(ui, reviews, model.load, json_out)
        return
    cropper = model.load()
    read = (
        datasets.read_fcdb(fcdb)
        if fcdb
        else datasets.read_gaicd(gaicd, None if split == "all" else split)
    )
    for line in read.problems:
        ui.warning(line)
    folder = fcdb or gaicd
    trained = _training_photos(ui, cropper, folder, read.images)
    with ui.progress(len(read.images), "evaluating") as advance:
        run = evaluation.evaluate_fcdb if fcdb else evaluation.evaluate_gaicd
        report = run(cropper, read.images, batch_size=batch_size, on_image=advance)
    for line in report.problems:
        ui.error(line)
    if trained is not None:
        report.summary["training_photos"] = len(trained)
    _print_table(f"sacrop eval: {'FCDB' if fcdb else 'GAICD'} {folder}", report.summary)
    if json_out:
        payload = {
            "dataset": "fcdb" if fcdb else "gaicd",
            "path": str(folder),
            "weights": str(cropper.weights_path),
            "precision": model.precision,
            "summary": report.summary,
            "per_image": report.per_image,
            "training_photos": None if trained is None else sorted(trained),
            "problems": report.problems,
        }
        json_out.write_text(json.dumps(payload, indent=1) + "\n")
    if report.problems:
        raise click.exceptions.Exit(1)


def _training_photos(ui: UI, cropper: Cropper, folder: Path, images: list[Any]) -> set[str] | None:
    """The photos of ``folder`` the weights were trained on (None: not known), warned about."""
    trained = evaluation.training_photos(cropper.meta, (s.name for s in images))
    if trained:
        ui.warning(
            f"{folder}: {len(trained)} of its {len(images)} photos trained "
            f"{cropper.weights_path.name}: their figures flatter it; evaluate on held-out photos"
        )
    elif trained is None:
        ui.info(f"{cropper.weights_path.name}: its training photos are not known; none counted")
    return trained


def _print_table(title: str, summary: dict[str, Any]) -> None:
    """The figures, on stdout: shown with -q too (it silences progress, not results)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                table.add_row(f"{key} {sub}", f"{v:.4f}")
        else:
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    Console(highlight=False, soft_wrap=True).print(table)
