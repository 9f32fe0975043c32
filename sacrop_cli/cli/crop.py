"""``sacrop crop`` and ``sacrop score``: options in, one call of the Python API, results out.

Nothing heavy is imported here at module level (torch, Pillow, the API): ``sacrop --help``
must stay fast. Machine output (``--json``, ``score``) goes to stdout, everything else to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli import crop_output, pipe
from sacrop_cli.cli.console import UI, interrupts, level_from_flags, silence_stdout
from sacrop_cli.cli.options import (
    file_options,
    hint_options,
    hints_file_option,
    load_cropper,
    model_options,
    ratios_option,
    reports_errors,
    verbosity_options,
)
from sacrop_cli.cli.ray_options import ray_options, sources
from sacrop_cli.hints import Hints, Point, Region
from sacrop_cli.io.limits import DEFAULT_MAX_PIXELS
from sacrop_cli.ratios import Ratio

if TYPE_CHECKING:
    from sacrop_cli.api import ModelSpec
    from sacrop_cli.io import inputs, storage
    from sacrop_cli.run import driver, hints_file, local, ray_runner
    from sacrop_cli.run import job as crop_job
    from sacrop_cli.run import resume as rerun
    from sacrop_cli.run.report import BatchReport
else:
    crop_job = lazy_module("sacrop_cli.run.job")
    driver = lazy_module("sacrop_cli.run.driver")
    hints_file = lazy_module("sacrop_cli.run.hints_file")
    local = lazy_module("sacrop_cli.run.local")
    storage = lazy_module("sacrop_cli.io.storage")
    ray_runner = lazy_module("sacrop_cli.run.ray_runner")
    rerun = lazy_module("sacrop_cli.run.resume")


def _check_preview(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() not in (".html", ".htm", ".png"):
        raise click.BadParameter(f"{value}: the sheet's name must end in .html or .png", ctx, param)
    return value


CROP_HELP = """Find the best crops of photos and save them as new files.

PATH can be photos (camera RAWs too) and folders; folders are searched recursively and their
structure is mirrored under the output folder; '-' is one photo on standard input, and -o -
writes its rank-1 crop of the first ratio on standard output. Originals are never modified.
Each crop is saved as <name>.<ratio>.<rank>.<ext>, keeping EXIF (orientation reset) and the
colour profile; crops of RAWs are developed (camera white balance, sRGB) into JPEGs.

\b
Examples:
  sacrop crop photos/ --ratio 4:3                 best 4:3 crop of every photo -> ./crops/
  sacrop crop IMG_0001.jpg --ratio 16:9 --ratio 1:1 --top-k 3 -o out/
  sacrop crop photos/ --ratio original --format webp --max-size 2048x2048
  sacrop crop photos/ --dry-run --json > boxes.jsonl    only the boxes, as JSON Lines
  sacrop crop photos/ --manifest crops/manifest.jsonl   a record per photo for scripts
  sacrop crop photos/ -r 4:3 -k 3 --dry-run --preview sheet.html   look before writing
  sacrop crop /shared/photos -r 4:3 -o /shared/crops --ray auto   on a Ray cluster
  sacrop crop raws/ -r 3:2 -o raws/ --xmp-only     crops as XMP sidecars beside RAWs
  cat IMG.jpg | sacrop crop - -r 4:3 -o - > crop.jpg      one photo through a pipe
  sacrop crop photos/ -r 1:1 --keep 10%,20%,40%,60% --avoid 80%,85%,100%,100%

\b
Ratios: W:H (4:3, 16:9, 1:1, 2:3...; also written 4x3 or 16/9), decimal (1.91:1, or 1.5
for 1.5:1), 'any' (free framing, the network's pick) or 'original' (the photo's own
ratio). Repeat --ratio for several in one pass.

Existing crop files are kept unless --overwrite, so an interrupted run can be resumed
by running the same command again (--resume says so explicitly). Ctrl-C stops after
the current photo and prints the summary; a second Ctrl-C stops at once. Crops are
written to temporary files and renamed when complete: no half-written file is left.
Exit status: 0 when every photo was cropped, 1 when some photo failed or a PATH does
not exist (the others are still processed), 2 for invalid options, 130 when interrupted,
141 when standard output was closed by its reader (--json | head -1).
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
@file_options
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
@click.option(
    "--xmp",
    "xmp",
    flag_value="also",
    help="Also write an XMP sidecar per photo (<name>.xmp, beside its crops): the first ratio's "
    "best crop as a Camera Raw crop, every crop as an IPTC image region; an existing sidecar is "
    "updated, its other settings kept.",
)
@click.option(
    "--xmp-only",
    "xmp",
    flag_value="only",
    help="Write the XMP sidecars and no crop files (-o at the photos' folder puts them beside "
    "the RAWs, where editors look).",
)
@click.option(
    "--xmp-name",
    type=click.Choice(["stem", "full"]),
    default="stem",
    show_default=True,
    help="How sidecars are named: stem (IMG_1.xmp: Lightroom, darktable's import) or full "
    "(IMG_1.CR2.xmp: digiKam, darktable's own).",
)
@model_options(
    refine="Keep the best candidate boxes as they are: no local search around them "
    "(a little faster, a little worse: see docs/method.md)."
)
@hint_options
@hints_file_option
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
    f"[default: {DEFAULT_MAX_PIXELS}]",
)
@verbosity_options
@ray_options
@reports_errors
def crop(**options: Any) -> None:
    _crop(CropOptions(**options))


@dataclass(frozen=True)
class CropOptions:
    """Every option of ``sacrop crop``, folded at once: what the command's steps take."""

    paths: tuple[str, ...]
    ratios: tuple[Ratio, ...]
    top_k: int
    out_dir: str
    no_recursive: bool
    overwrite: bool
    resume: bool
    fmt: str | None
    quality: int
    max_size: tuple[int, int] | None
    background: str
    manifest: Path | None
    preview: Path | None
    preview_dir: Path | None
    dry_run: bool
    as_json: bool
    xmp: str | None
    xmp_name: str
    model: ModelSpec
    keep: tuple[Region, ...]
    avoid: tuple[Region, ...]
    focus: Point | None
    hints_path: Path | None
    batch_size: int
    max_pixels: int | None
    orient: str
    quiet: bool
    verbose: int
    files_from: IO[str] | None
    ray_address: str | None
    ray_workers: int | None
    ray_gpus: float

    def job(self, photo_hints: dict[str, Hints]) -> crop_job.CropJob:
        return crop_job.CropJob(
            ratios=self.ratios,
            top_k=self.top_k,
            out_dir=self.out_dir,
            orient=self.orient == "auto",
            dry_run=self.dry_run,
            overwrite=self.overwrite,
            format=self.fmt.lower() if self.fmt else None,
            quality=self.quality,
            max_size=self.max_size,
            max_pixels=self.max_pixels,
            batch_size=self.batch_size,
            xmp=self.xmp is not None,
            xmp_only=self.xmp == "only",
            xmp_name=self.xmp_name,
            hints=Hints(self.keep, self.avoid, self.focus),
            photo_hints=photo_hints,
            background=self.background,
        )

    def executor(self, ui: UI) -> driver.Executor:
        """Threads on this machine with the model loaded here, or Ray's actors."""
        if self.ray_address is None:
            return local.LocalExecutor(load_cropper(ui, self.model))
        return ray_runner.RayExecutor(
            self.ray_address,
            self.model,
            self.ray_workers,
            self.ray_gpus,
            quiet=self.verbose < 2,  # -vv: Ray's own messages too
        )


def _checked(opts: CropOptions) -> CropOptions:
    """Usage errors of options that do not go together; ``--manifest -`` is ``--json``."""
    if opts.resume and opts.overwrite:
        raise click.UsageError(
            "--resume keeps existing crops and --overwrite replaces them: choose one"
        )
    if opts.manifest is not None and str(opts.manifest) == "-":  # the records on stdout
        opts = replace(opts, manifest=None, as_json=True)
    pipe.check(
        opts.paths,
        opts.out_dir,
        as_json=opts.as_json,
        refused={
            "--ray": opts.ray_address,
            "--files-from": opts.files_from,
            "--xmp-only" if opts.xmp == "only" else "--xmp": opts.xmp,
        },
        refused_with_stdin={"--preview": opts.preview, "--preview-dir": opts.preview_dir},
    )
    return opts


def _crop(opts: CropOptions) -> None:
    opts = _checked(opts)
    ctx = click.get_current_context()
    stdin = ctx.with_resource(pipe.stdin_copy()) if pipe.STDIO in opts.paths else None
    ui = UI(level_from_flags(opts.quiet, opts.verbose))
    scan, photo_hints = _inputs(opts, ui, stdin)
    stop_requested = ctx.with_resource(interrupts(ui))
    executor = opts.executor(ui)
    job = opts.job(photo_hints)
    if opts.preview is not None:
        crop_output.check_preview_target(opts.preview, opts.preview.parent)
    if opts.preview_dir is not None:
        crop_output.check_preview_target(opts.preview_dir, opts.preview_dir)
    total = len(scan.images) + len(scan.missing) + len(scan.skipped)
    previous = rerun.previous_records(opts.manifest)  # before the sink replaces it
    with crop_output.jsonl_sink(opts.manifest) as sink, ui.progress(total, "Cropping") as advance:
        show = _Show(ui, opts.as_json, stdin, sink, advance)
        report = driver.run_batch(
            executor,
            scan,
            job,
            on_progress=show,
            should_stop=lambda: stop_requested() or show.stdout_closed,
            previous=previous,
        )
    _finish(opts, ui, report, show)


def _inputs(
    opts: CropOptions, ui: UI, stdin: Path | None
) -> tuple[inputs.InputScan, dict[str, Hints]]:
    """The photos to crop (what cannot be read said on the way), and their own hints."""
    paths = sources(
        (str(stdin),) if stdin else opts.paths,
        opts.files_from,
        opts.out_dir,
        opts.ray_address,
        opts.ray_workers,
        opts.ray_gpus,
    )
    scan = storage.scan_sources(paths, recursive=not opts.no_recursive)
    for message in scan.warnings:
        ui.warning(message)
    for hidden in scan.hidden:
        ui.info(f"{hidden}: hidden, skipped")
    for own in scan.own:
        ui.info(f"{own}: sacrop's own output (a crop or a sidecar), skipped")
    given = len(scan.images) + len(scan.missing) + len(scan.skipped)
    if opts.out_dir == pipe.STDIO and given > 1:
        raise click.UsageError("-o - writes the crop of one photo: give one photo")
    if not scan.images and not scan.missing:  # a missing path gets its own error below
        skipped = f" ({len(scan.skipped)} file(s) skipped, -v names them)" if scan.skipped else ""
        ui.warning("no photos found in " + ", ".join(map(str, paths)) + skipped)
    photo_hints: dict[str, Hints] = {}
    if opts.hints_path is not None:
        photos = (p for p, _ in scan.images)
        photo_hints, warnings = hints_file.read_hints_file(opts.hints_path, photos)
        for message in warnings:
            ui.warning(message)
    return scan, photo_hints


class _Show:
    """Per photo: its manifest line, its JSON on stdout, its messages, the bar."""

    def __init__(
        self,
        ui: UI,
        as_json: bool,
        stdin: Path | None,
        sink: IO[str] | None,
        advance: Callable[[int], None],
    ) -> None:
        self.ui, self.as_json, self.stdin = ui, as_json, stdin
        self.sink, self.advance = sink, advance
        self.stdout_closed = False
        self.shown: set[str] = set()  # the warnings shown with their photo

    def __call__(self, record: dict[str, Any], warnings: list[str]) -> None:
        ui = self.ui
        if self.stdin is not None:
            warnings = pipe.as_given(record, warnings, str(self.stdin))
        if self.sink is not None:
            self.sink.write(json.dumps(record) + "\n")
        if self.as_json and not self.stdout_closed:
            try:
                click.echo(json.dumps(record))
            except BrokenPipeError:  # `| head`: the reader has what it wanted
                self.stdout_closed = True
        for message in warnings:
            self.shown.add(message)
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
        self.advance(1)


def _finish(opts: CropOptions, ui: UI, report: BatchReport, show: _Show) -> None:
    """The end of a run: previews, the summary, and the exit status."""
    if show.stdout_closed:  # end quietly, as Unix tools do when their reader goes away
        silence_stdout()
        raise click.exceptions.Exit(141)  # 128 + SIGPIPE
    for message in report.warnings:
        if message not in show.shown:  # warnings about the run as a whole
            ui.warning(message)
    if opts.preview is not None or opts.preview_dir is not None:
        crop_output.write_previews(
            ui, report.records, opts.preview, opts.preview_dir, opts.max_pixels
        )
    ui.print(crop_output.summary(report, opts.out_dir, opts.dry_run, opts.xmp or ""))
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
