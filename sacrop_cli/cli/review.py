"""``sacrop review``: the crops of photos on a page in the browser, where a person corrects them;
every change is saved to a manifest that ``sacrop apply`` writes.

Nothing heavy is imported here at module level: ``sacrop --help`` must stay fast. Standard
output has one line, the page's URL (for scripts and for opening it by hand); messages go to
standard error.
"""

from __future__ import annotations

import functools
import threading
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.text import Text

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli.console import UI, level_from_flags
from sacrop_cli.cli.options import (
    hint_options,
    hints_file_option,
    load_cropper,
    model_options,
    ratios_option,
    reports_errors,
    verbosity_options,
)
from sacrop_cli.hints import Hints, Point, Region
from sacrop_cli.ratios import Ratio

if TYPE_CHECKING:
    from sacrop_cli.api import ModelSpec
    from sacrop_cli.io import inputs
    from sacrop_cli.run import hints_file
    from sacrop_cli.viz import review as server
    from sacrop_cli.viz import review_order, review_records
else:
    inputs = lazy_module("sacrop_cli.io.inputs")
    hints_file = lazy_module("sacrop_cli.run.hints_file")
    server = lazy_module("sacrop_cli.viz.review")
    review_order = lazy_module("sacrop_cli.viz.review_order")
    review_records = lazy_module("sacrop_cli.viz.review_records")

REVIEW_HELP = """Look at the crops of photos in the browser and correct them.

Analyses the photos (or takes the records of --manifest FILE when it has them for the same
ratios) and serves a page on this computer only (127.0.0.1); the first line printed is its
address, which holds a one-time code (the browser opened gets its own): the first visit
exchanges it for a cookie, after which the address no longer works. On the page, for each
photo and ratio: pick another of the -k ranks, drag the box or its corners (the ratio is
held), reset it, mark the photo done, all with the keyboard too (? on the page lists the
keys). A box moved or resized is scored by the network before it is saved. Every change is
saved to FILE at once, beside what sacrop proposed. Ctrl-C ends the review; then `sacrop
apply FILE` writes the crops chosen. --keep, --avoid, --focus and --hints steer the crops
proposed, as for `crop`.

\b
Examples:
  sacrop review photos/ -r 4:3 --manifest review.jsonl
  sacrop review photos/ -r 4:3 -r 1:1 -k 5 --manifest review.jsonl --port 8765 --no-browser
  sacrop review photos/ --order uncertain --weights mine.pt --manifest next.jsonl
"""


@click.command(help=REVIEW_HELP, short_help="Correct the crops in the browser.")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@ratios_option
@click.option(
    "-k",
    "--top-k",
    type=click.IntRange(1, 10),
    default=3,
    show_default=True,
    help="Ranks offered per ratio (the crop written is the one chosen: rank 1 unless changed).",
)
@click.option(
    "--manifest",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The manifest the choices are saved to (JSON Lines, as `crop --manifest` writes).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1; 0 takes a free one.",
)
@click.option("--no-browser", is_flag=True, help="Print the address only; open no browser.")
@click.option(
    "--order",
    type=click.Choice(["name", "uncertain"]),
    default="name",
    show_default=True,
    help="The photos' order: as given, or those whose rank 1 and rank 2 scored closest first "
    "(the choices that teach `train --reviews` most).",
)
@model_options
@hint_options
@hints_file_option
@verbosity_options
@reports_errors
def review(
    paths: tuple[str, ...],
    ratios: tuple[Ratio, ...],
    top_k: int,
    manifest: Path,
    port: int,
    no_browser: bool,
    order: str,
    model: ModelSpec,
    keep: tuple[Region, ...],
    avoid: tuple[Region, ...],
    focus: Point | None,
    hints_path: Path | None,
    quiet: bool,
    verbose: int,
) -> None:
    ui = UI(level_from_flags(quiet, verbose))
    labels = tuple(dict.fromkeys(r.label for r in ratios))
    review_records.check_file(manifest)  # before any photo is analysed
    previous, warnings = review_records.read_review_file(manifest)
    for message in warnings:
        ui.warning(message)
    scan = inputs.scan_inputs(paths)
    own: dict[str, Hints] = {}
    if hints_path is not None:
        own, warnings = hints_file.read_hints_file(hints_path, (p for p, _ in scan.images))
        for message in warnings:
            ui.warning(message)
    plan = review_records.plan(scan, previous, labels)
    if plan.reused:
        ui.info(f"{manifest}: {len(plan.reused)} photo(s) taken as they were reviewed")
    if plan.others:
        ui.info(f"{manifest}: {len(plan.others)} record(s) of photos not given kept as they are")

    def show(record: dict[str, Any], warnings: list[str]) -> None:
        for message in warnings:
            ui.warning(message)
        if record["status"] == "error":
            ui.error(record["error"])
        elif record["status"] == "skipped":
            ui.info(record["error"])
        advance(1)

    total = len(plan.to_analyse.images) + len(scan.missing) + len(scan.skipped)
    cropper = functools.cache(lambda: load_cropper(ui, model))
    with ui.progress(total, "Analysing") as advance:
        records = review_records.analyse(
            cropper,
            plan,
            scan,
            ratios,
            top_k,
            on_progress=show,
            hints=(Hints(keep, avoid, focus), own),
        )
    records = review_order.ordered(records, order)
    session = review_records.ReviewSession(manifest, records, plan.others)
    session.rescore = review_records.BoxScorer(cropper)  # a box moved: the network's score
    session.save()
    httpd = server.ReviewServer(session, port)
    click.echo(httpd.url)  # the first line of standard output; its code works once
    ui.print(
        Text(
            f"reviewing {len(session.shown)} photo(s) at the address above; each change is saved"
            f" to {manifest}; Ctrl-C ends the review"
        )
    )
    if not no_browser:  # a browser command that waits until its window closes blocks no one
        threading.Thread(target=webbrowser.open, args=(httpd.url,), daemon=True).start()
    server.serve(
        httpd, on_stop=lambda: ui.print(Text(f"review ended; the choices are in {manifest}"))
    )
    if any(r["status"] == "error" for r in records):
        raise click.exceptions.Exit(1)
