"""``sacrop crop`` and ``sacrop score``: options in, one call of the Python API, results out.

Nothing heavy is imported here at module level (torch, Pillow, the API): ``sacrop --help``
must stay fast. Machine output (``--json``, ``score``) goes to stdout, everything else to stderr.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli.console import UI, level_from_flags
from sacrop_cli.cli.options import (
    SizeType,
    faces_option,
    load_cropper,
    model_options,
    ratios_option,
    reports_errors,
    verbosity_options,
)
from sacrop_cli.cli.ray_options import ray_options, sources
from sacrop_cli.errors import SacropError
from sacrop_cli.io.atomic import atomic_open, stale_temp_files
from sacrop_cli.ratios import Ratio

if TYPE_CHECKING:
    from sacrop_cli.io import imageio, storage
    from sacrop_cli.run import job as crop_job
    from sacrop_cli.run import local, ray_runner
    from sacrop_cli.run import resume as rerun
    from sacrop_cli.viz import sheets
else:
    sheets = lazy_module("sacrop_cli.viz.sheets")
    crop_job = lazy_module("sacrop_cli.run.job")
    local = lazy_module("sacrop_cli.run.local")
    storage = lazy_module("sacrop_cli.io.storage")
    imageio = lazy_module("sacrop_cli.io.imageio")
    ray_runner = lazy_module("sacrop_cli.run.ray_runner")
    rerun = lazy_module("sacrop_cli.run.resume")

# Must equal imageio.DEFAULT_MAX_PIXELS (tests check it); imageio loads Pillow, so not imported.
_MAX_PIXELS_SHOWN = "200000000"


@contextlib.contextmanager
def _jsonl_sink(path: Path | None) -> Iterator[IO[str] | None]:
    """A JSON Lines file written to a temporary name and renamed into place when complete."""
    if path is None:
        yield None
        return
    if path.parent.exists() and not path.parent.is_dir():
        raise SacropError(f"{path}: cannot write the manifest: {path.parent} is a file")
    for stale in stale_temp_files(path.parent).get(path.name, ()):  # left by a killed run
        stale.unlink(missing_ok=True)
    with atomic_open(path, "w") as fh:
        yield fh


@contextlib.contextmanager
def _interrupts(ui: UI) -> Iterator[Callable[[], bool]]:
    """Yield ``stop_requested()``: the first Ctrl-C only sets it, so the run ends after the
    current photo with a summary; a second one raises KeyboardInterrupt at once (writes are
    atomic: no partial file either way). Signals can only be caught in the main thread."""
    requested = False
    if threading.current_thread() is not threading.main_thread():
        yield lambda: requested
        return

    def handler(signum: int, frame: object) -> None:
        nonlocal requested
        if requested:
            raise KeyboardInterrupt
        requested = True
        ui.warning("interrupted: finishing the current photo (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: requested
    finally:
        signal.signal(signal.SIGINT, previous)


def _summary(report: Any, out_dir: Path, dry_run: bool) -> Any:
    from rich import box
    from rich.table import Table

    c = report.counts
    table = Table(show_header=False, box=box.SIMPLE)
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_row("Photos", str(c["images"]))
    if c["already_done"]:
        table.add_row("Photos already done (skipped, not read)", str(c["already_done"]))
    if dry_run:
        table.add_row("Crops found (dry run, none written)", str(c["crops"]))
    else:
        table.add_row(f"Crops written to {out_dir}", str(c["crops_written"]))
        table.add_row("Already existing (kept)", str(c["crops_existing"]))
    table.add_row("Skipped files (not images)", str(c["skipped_files"]))
    table.add_row("Errors", str(c["errors"] + c["missing"]), style="red" if report.failed else None)
    if report.stopped:
        table.add_row(f"Not processed ({report.stopped})", str(c["not_processed"]), style="yellow")
    table.add_row("Time", f"{c['seconds']:.1f} s")
    return table


def _check_preview(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() not in (".html", ".htm", ".png"):
        raise click.BadParameter(f"{value}: the sheet's name must end in .html or .png", ctx, param)
    return value


def _check_background(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        imageio.background_colour(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx, param) from None
    return value


def _check_preview_target(path: Path, folder: Path) -> None:
    """Fail before any crop is written when ``folder`` (where the preview ``path`` goes) cannot
    be made or written to, as the manifest and the output folder do."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        reason = err.strerror or err
        if isinstance(err, (FileExistsError, NotADirectoryError)):
            reason = "a file is in the way of its folder"
        raise SacropError(f"{path}: cannot write the preview: {reason}") from None


def _write_previews(
    ui: UI,
    records: list[dict[str, Any]],
    sheet: Path | None,
    folder: Path | None,
    max_pixels: int | None,
) -> None:
    """The preview sheet and/or per-photo previews, after the run (exit 1 if unwritable)."""
    thumbnail = sheets.thumbnail_loader(max_pixels=max_pixels)
    if sheet is not None:
        for message in sheets.write_preview(records, sheet, thumbnail):
            ui.warning(message)
        ui.info(f"preview: {sheet}")
    if folder is not None:
        ui.info(
            f"previews: {len(sheets.write_preview_dir(records, folder, thumbnail))} in {folder}"
        )


CROP_HELP = """Find the best crops of photos and save them as new files.

PATH can be photos and folders; folders are searched recursively and their structure is
mirrored under the output folder. Originals are never modified. Each crop is saved as
<name>.<ratio>.<rank>.<ext>, keeping EXIF (orientation reset) and the colour profile.

\b
Examples:
  sacrop crop photos/ --ratio 4:3                 best 4:3 crop of every photo -> ./crops/
  sacrop crop IMG_0001.jpg --ratio 16:9 --ratio 1:1 --top-k 3 -o out/
  sacrop crop photos/ --ratio original --format webp --max-size 2048x2048
  sacrop crop photos/ --dry-run --json > boxes.jsonl    only the boxes, as JSON Lines
  sacrop crop photos/ --manifest crops/manifest.jsonl   a record per photo for scripts
  sacrop crop photos/ -r 4:3 -k 3 --dry-run --preview sheet.html   look before writing
  sacrop crop /shared/photos -r 4:3 -o /shared/crops --ray auto   on a Ray cluster

\b
Ratios: W:H (4:3, 16:9, 1:1, 2:3...), 'any' (free framing, the network's pick) or
'original' (the photo's own ratio). Repeat --ratio for several in one pass.

Existing crop files are kept unless --overwrite, so an interrupted run can be resumed
by running the same command again (--resume says so explicitly). Ctrl-C stops after
the current photo and prints the summary; a second Ctrl-C stops at once. Crops are
written to temporary files and renamed when complete: no half-written file is left.
Exit status: 0 when every photo was cropped, 1 when some photo failed or a PATH does
not exist (the others are still processed), 2 for invalid options, 130 when interrupted.
"""


@click.command("crop", help=CROP_HELP)
@click.argument("paths", nargs=-1, type=click.Path(path_type=str), metavar="PATH...")
@ratios_option
@click.option(
    "-k",
    "--top-k",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many crops per ratio, best first (visibly different framings).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=str),
    default="crops",
    help="Folder for the crop files (with --ray, a folder every node sees or a URI).  "
    "[default: ./crops]",
)
@click.option("--no-recursive", is_flag=True, help="Do not descend into sub-folders.")
@click.option("--overwrite", is_flag=True, help="Replace crop files left by an earlier run.")
@click.option(
    "--resume",
    is_flag=True,
    help="Keep the crops an earlier (interrupted) run wrote and make the missing "
    "ones; this is the default, the flag only says so.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jpeg", "png", "webp", "tiff"], case_sensitive=False),
    help="Output format [default: the format of each photo; JPEG for HEIC, PNG for GIF].",
)
@click.option(
    "--quality",
    type=click.IntRange(1, 100),
    default=95,
    show_default=True,
    help="JPEG/WebP quality.",
)
@click.option(
    "--max-size",
    type=SizeType(),
    default=None,
    help="Shrink crops to fit in WxH pixels (ratio kept, never enlarged).",
)
@click.option(
    "--background",
    default="white",
    show_default=True,
    callback=_check_background,
    metavar="COLOR",
    help="Colour under the transparent pixels of crops written to JPEG (a name or #rrggbb).",
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="Write a JSON Lines record per photo (boxes, scores, files) to this file; "
    "'-' for standard output.",
)
@click.option(
    "--preview",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_check_preview,
    metavar="FILE.html|FILE.png",
    help="Write a contact sheet of the photos with their crops drawn on them: a "
    "self-contained .html file (paged, for any number of photos) or a .png image.",
)
@click.option(
    "--preview-dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Write one preview PNG per photo (<name>.preview.png) into DIR.",
)
@click.option(
    "--orient",
    type=click.Choice(["fixed", "auto"]),
    default="fixed",
    show_default=True,
    help="auto: a fixed ratio follows each photo's orientation (4:3 is cropped as 3:4 from a "
    "portrait photo, and named so).",
)
@click.option(
    "-n",
    "--dry-run",
    is_flag=True,
    help="Find the crops but write no image files (the manifest is still written).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the records as JSON Lines on stdout (messages stay on stderr).",
)
@model_options
@faces_option
@click.option(
    "--no-refine",
    is_flag=True,
    help="Keep the best candidate boxes as they are: no local search around them "
    "(a little faster, a little worse: see docs/method.md).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Photos scored together; lower it if memory is short.",
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    help="Refuse photos with more pixels than this (decompression-bomb guard).  "
    f"[default: {_MAX_PIXELS_SHOWN}]",
)
@verbosity_options
@ray_options
@reports_errors
def crop(
    paths: tuple[str, ...],
    ratios: tuple[Ratio, ...],
    top_k: int,
    out_dir: str,
    no_recursive: bool,
    overwrite: bool,
    resume: bool,
    fmt: str | None,
    quality: int,
    max_size: tuple[int, int] | None,
    background: str,
    manifest: Path | None,
    preview: Path | None,
    preview_dir: Path | None,
    dry_run: bool,
    as_json: bool,
    weights: str | None,
    engine: str,
    device: str,
    faces: bool,
    no_refine: bool,
    batch_size: int,
    max_pixels: int | None,
    orient: str,
    quiet: bool,
    verbose: int,
    files_from: IO[str] | None,
    ray_address: str | None,
    ray_workers: int | None,
    ray_gpus: float,
) -> None:
    if resume and overwrite:
        raise click.UsageError(
            "--resume keeps existing crops and --overwrite replaces them: choose one"
        )
    if manifest is not None and str(manifest) == "-":  # the records on standard output
        manifest, as_json = None, True
    ui = UI(level_from_flags(quiet, verbose))
    paths = sources(paths, files_from, out_dir, ray_address, ray_workers, ray_gpus)
    scan = storage.scan_sources(paths, recursive=not no_recursive)
    for message in scan.warnings:
        ui.warning(message)
    for hidden in scan.hidden:
        ui.info(f"{hidden}: hidden, skipped")
    if not scan.images and not scan.missing:  # a missing path gets its own error below
        skipped = f" ({len(scan.skipped)} file(s) skipped, -v names them)" if scan.skipped else ""
        ui.warning("no photos found in " + ", ".join(map(str, paths)) + skipped)
    stop_requested = click.get_current_context().with_resource(_interrupts(ui))
    stdout_closed = False
    shown: set[str] = set()

    def show(record: dict[str, Any], warnings: list[str]) -> None:
        """Per photo: manifest line, JSON on stdout, messages, bar (sink and advance: below)."""
        nonlocal stdout_closed
        if sink is not None:
            sink.write(json.dumps(record) + "\n")
        if as_json and not stdout_closed:
            try:
                click.echo(json.dumps(record))
            except BrokenPipeError:  # `| head`: the reader has what it wanted
                stdout_closed = True
        for message in warnings:
            shown.add(message)
            ui.warning(message)
        if record["status"] == "error":
            ui.error(record["error"])
        elif record["status"] == "skipped":
            ui.info(record["error"])
        else:
            ui.info(f"{record['source']}: {len(record['crops'])} crop(s)")
            for c in record["crops"]:
                ui.debug(
                    f"  {c['ratio']} #{c['rank']} {c['box']} score {c['score']:.4f} "
                    f"-> {c['path'] or c['status']}"
                )
        advance(1)

    if ray_address is None:
        run = functools.partial(
            local.run_batch,
            load_cropper(ui, weights, device, engine, refine=not no_refine, faces=faces),
        )
    else:
        run = functools.partial(
            ray_runner.run_on_ray,
            ray_address,
            weights=weights,
            engine=engine,
            device=device,
            refine=not no_refine,
            faces=faces,
            workers=ray_workers,
            gpus=ray_gpus,
            quiet_ray=verbose < 2,  # -vv: Ray's own messages too
        )
    job = crop_job.CropJob(
        ratios=tuple(r.label for r in ratios),
        top_k=top_k,
        out_dir=out_dir,
        orient=orient == "auto",
        dry_run=dry_run,
        overwrite=overwrite,
        format=fmt.lower() if fmt else None,
        quality=quality,
        max_size=max_size,
        max_pixels=max_pixels,
        batch_size=batch_size,
        background=background,
    )
    if preview is not None:
        _check_preview_target(preview, preview.parent)
    if preview_dir is not None:
        _check_preview_target(preview_dir, preview_dir)
    total = len(scan.images) + len(scan.missing) + len(scan.skipped)
    previous = rerun.previous_records(manifest)  # before the sink replaces it
    with _jsonl_sink(manifest) as sink, ui.progress(total, "Cropping") as advance:
        report = run(
            scan,
            job,
            on_progress=show,
            should_stop=lambda: stop_requested() or stdout_closed,
            previous=previous,
        )
    if stdout_closed:  # end quietly, as Unix tools do when their reader goes away
        _silence_stdout()
        raise click.exceptions.Exit(141)  # 128 + SIGPIPE
    for message in report.warnings:
        if message not in shown:  # warnings about the run as a whole
            ui.warning(message)
    if preview is not None or preview_dir is not None:
        _write_previews(ui, report.records, preview, preview_dir, max_pixels)
    ui.print(_summary(report, out_dir, dry_run))
    if report.stopped:
        message = (
            f"{report.stopped}: {report.counts['not_processed']} photo(s) not processed;"
            " run the same command again to finish"
        )
        if report.stopped == "interrupted":
            ui.warning(message)
            raise click.exceptions.Exit(130)
        ui.error(message)
    if report.failed:
        raise click.exceptions.Exit(1)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
