"""``sacrop train --reviews`` and ``sacrop eval --reviews``: learning a person's taste from their
reviews and measuring it; the options and the two runs, which ``train`` and ``eval`` call."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli.console import UI

if TYPE_CHECKING:
    from sacrop_cli import api
    from sacrop_cli.train import agreement, finetune, from_reviews, reviews
else:
    api = lazy_module("sacrop_cli.api")
    agreement = lazy_module("sacrop_cli.train.agreement")
    finetune = lazy_module("sacrop_cli.train.finetune")
    from_reviews = lazy_module("sacrop_cli.train.from_reviews")
    reviews = lazy_module("sacrop_cli.train.reviews")

_file = click.Path(exists=True, dir_okay=False, path_type=Path)


def review_train_options(func: Any) -> Any:
    """--reviews, --val-reviews and --init of ``sacrop train``."""
    func = click.option(
        "--init",
        metavar="NAME|PATH",
        help="With --reviews: the weights to start from (default: the shipped ones).",
    )(func)
    func = click.option(
        "--val-reviews",
        type=_file,
        multiple=True,
        metavar="FILE",
        help="With --reviews: check the learning on these reviews (default: 20%% of the "
        "reviewed photos held back).",
    )(func)
    return click.option(
        "--reviews",
        type=_file,
        multiple=True,
        metavar="FILE",
        help="Learn your taste from `sacrop review` manifests (repeatable): the photos marked "
        "done or changed. Alone, it starts from the shipped weights and needs nothing else.",
    )(func)


def _percent(found: dict) -> str:
    if not found.get("crops"):
        return "no crop to check"
    return f"{found['agree']} of {found['crops']} ({100 * found['agreement']:.0f}%)"


def train_reviews(
    ui: UI,
    files: tuple[Path, ...],
    val_files: tuple[Path, ...],
    init: str | None,
    out: Path,
    seed: int,
    reporter: Any,
) -> None:
    """Learn from ``files`` into ``out`` and its graph, showing progress with ``reporter`` (a
    context manager, as ``train`` shows it); print the agreement before and after. Nothing to
    learn is one line and exit 2; Ctrl-C leaves a complete checkpoint or none."""
    run = from_reviews.ReviewRun(
        reviews=files,
        out=out,
        init=init,
        val_reviews=val_files,
        cfg=finetune.FinetuneConfig(seed=seed),
        command="sacrop " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    try:
        with reporter:
            summary = from_reviews.train_from_reviews(run, reporter)
    except reviews.NothingToLearn as err:
        ui.error(str(err))
        raise click.exceptions.Exit(2) from None
    skipped = ", ".join(f"{n} {why}" for why, n in summary["skipped"].items())
    ui.print(
        f"wrote {out}: learned from {summary['photos']} reviewed photo(s), {summary['pairs']} "
        f"pairs{f'; skipped {skipped}' if skipped else ''}"
    )
    ui.print(f"wrote {summary['graph']} (the ONNX graph `sacrop crop` runs)")
    if "after" in summary:
        ui.print(
            f"checked on {summary['checked']} reviewed photo(s): rank 1 is the crop chosen in "
            f"{_percent(summary['before'])} before, {_percent(summary['after'])} after"
        )


def eval_reviews(
    ui: UI, files: tuple[Path, ...], load: Callable[[], api.Cropper], json_out: Path | None
) -> None:
    """How often the weights' rank 1 is the crop chosen in ``files``: JSON on standard output."""
    try:
        read = reviews.read_reviews(files)
    except reviews.NothingToLearn as err:
        ui.error(str(err).replace("nothing to learn", "nothing to evaluate"))
        raise click.exceptions.Exit(2) from None
    for line in read.warnings:
        ui.warning(line)
    cropper = load()
    with ui.progress(len(read.photos), "evaluating") as advance:
        found = agreement.agreement(cropper, read.photos, lambda: advance(1))
    payload = {
        "reviews": read.files,
        "weights": str(cropper.weights_path),
        **read.counts(),
        "agreement": found,
    }
    text = json.dumps(payload, indent=1)
    click.echo(text)
    if json_out:
        json_out.write_text(text + "\n")
