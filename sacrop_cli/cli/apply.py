"""``sacrop apply``: the crops a manifest lists, written as ``sacrop crop`` writes them.

A thin layer over :func:`sacrop_cli.run.apply.apply_manifest`; nothing heavy is imported here
at module level (``sacrop --help`` stays fast).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli.console import UI, level_from_flags
from sacrop_cli.cli.options import file_options, reports_errors, verbosity_options

if TYPE_CHECKING:
    from sacrop_cli.run import apply as run_apply
    from sacrop_cli.run import job as crop_job
else:
    run_apply = lazy_module("sacrop_cli.run.apply")
    crop_job = lazy_module("sacrop_cli.run.job")

APPLY_HELP = """Write exactly the crops a manifest lists.

MANIFEST is JSON Lines as `sacrop crop --manifest` writes it (perhaps edited, or saved by a
review): each record's `source` and each crop's `ratio`, `rank` and `box` are used. Crops get
the names, metadata and formats `crop` gives them (<name>.<ratio>.<rank>.<ext>, sub-folders
mirrored from the folder the photos share), written whole or not at all; existing crop files
are kept unless --overwrite.

\b
Examples:
  sacrop crop photos/ -r 4:3 -k 3 --dry-run --manifest picks.jsonl
  sacrop apply picks.jsonl -o crops/

A box outside its photo, empty, or not of its ratio (beyond pixel rounding) is one error
naming the photo; the other photos are written. Exit status: 0 when every crop was written
(or kept), 1 when a photo failed, 2 for invalid options.
"""


@click.command("apply", help=APPLY_HELP)
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=str),
    default="crops",
    help="Folder for the crop files.  [default: ./crops]",
)
@click.option("--overwrite", is_flag=True, help="Replace crop files that already exist.")
@file_options
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    help="Refuse photos with more pixels than this (decompression-bomb guard).",
)
@verbosity_options
@reports_errors
def apply(
    manifest: Path,
    out_dir: str,
    overwrite: bool,
    fmt: str | None,
    quality: int,
    max_size: tuple[int, int] | None,
    background: str,
    max_pixels: int | None,
    quiet: bool,
    verbose: int,
) -> None:
    ui = UI(level_from_flags(quiet, verbose))
    job = crop_job.CropJob(
        out_dir=out_dir,
        overwrite=overwrite,
        format=fmt.lower() if fmt else None,
        quality=quality,
        max_size=max_size,
        background=background,
        max_pixels=max_pixels,
    )

    def show(record: dict[str, Any], warnings: list[str]) -> None:
        for message in warnings:
            ui.warning(message)
        if record["status"] == "error":
            ui.error(record["error"])
        for c in record["crops"]:
            ui.debug(f"  {c['ratio']} #{c['rank']} {c['box']} -> {c['path'] or c['status']}")

    report = run_apply.apply_manifest(manifest, job, on_progress=show)
    for message in report.warnings:
        ui.warning(message)
    c = report.counts
    passed = c.get("passed_over", 0)
    passed = f", {passed} record(s) passed over (not photos, or failed)" if passed else ""
    from rich.text import Text  # plain text: file names are not markup

    ui.print(
        Text(
            f"{c['crops_written']} crop(s) written to {out_dir}, {c['crops_existing']} already "
            f"there (kept), {c['errors'] + c['missing']} photo(s) failed{passed}"
        )
    )
    if report.stopped:
        ui.error(f"{report.stopped}: {c['not_processed']} photo(s) not processed")
    if report.failed or report.stopped:
        raise click.exceptions.Exit(1)
