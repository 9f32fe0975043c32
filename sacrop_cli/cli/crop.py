"""``sacrop crop`` and ``sacrop score``: options in, one call of the Python API, results out.

Nothing heavy is imported here at module level (torch, Pillow, the API): ``sacrop --help``
must stay fast. Machine output (``--json``, ``score``) goes to stdout, everything else to stderr.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli import crop_output, pipe
from sacrop_cli.cli.console import UI, interrupts, level_from_flags, silence_stdout
from sacrop_cli.cli.options import (
    faces_option,
    file_options,
    hint_options,
    load_cropper,
    model_options,
    ratios_option,
    reports_errors,
    verbosity_options,
)
from sacrop_cli.cli.ray_options import ray_options, sources
from sacrop_cli.hints import Hints, Point, Region
from sacrop_cli.ratios import Ratio

if TYPE_CHECKING:
    from sacrop_cli.io import encode, storage
    from sacrop_cli.run import hints_file, local, ray_runner
    from sacrop_cli.run import job as crop_job
    from sacrop_cli.run import resume as rerun
    from sacrop_cli.viz import sheets
else:
    sheets = lazy_module("sacrop_cli.viz.sheets")
    crop_job = lazy_module("sacrop_cli.run.job")
    hints_file = lazy_module("sacrop_cli.run.hints_file")
    local = lazy_module("sacrop_cli.run.local")
    storage = lazy_module("sacrop_cli.io.storage")
    encode = lazy_module("sacrop_cli.io.encode")
    ray_runner = lazy_module("sacrop_cli.run.ray_runner")
    rerun = lazy_module("sacrop_cli.run.resume")

# Must equal imageio.DEFAULT_MAX_PIXELS (tests check it); imageio loads Pillow, so not imported.
_MAX_PIXELS_SHOWN = "200000000"


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
@model_options
@faces_option
@hint_options
@click.option(
    "--hints",
    "hints_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Hints per photo: JSON Lines, one object per photo with its 'source' (as in the "
    "manifest) and 'keep', 'avoid', 'focus' (see docs/cli.md); added to --keep and --avoid, a "
    "photo's focus replaces --focus.",
)
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
    xmp: str | None,
    xmp_name: str,
    weights: str | None,
    engine: str,
    device: str,
    precision: str,
    faces: bool,
    keep: tuple[Region, ...],
    avoid: tuple[Region, ...],
    focus: Point | None,
    hints_path: Path | None,
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
    pipe.check(
        paths,
        out_dir,
        as_json=as_json,
        refused={
            "--ray": ray_address,
            "--files-from": files_from,
            "--xmp-only" if xmp == "only" else "--xmp": xmp,
        },
        refused_with_stdin={"--preview": preview, "--preview-dir": preview_dir},
    )
    ctx = click.get_current_context()
    stdin = ctx.with_resource(pipe.stdin_copy()) if pipe.STDIO in paths else None
    ui = UI(level_from_flags(quiet, verbose))
    paths = sources(
        (str(stdin),) if stdin else paths, files_from, out_dir, ray_address, ray_workers, ray_gpus
    )
    scan = storage.scan_sources(paths, recursive=not no_recursive)
    for message in scan.warnings:
        ui.warning(message)
    for hidden in scan.hidden:
        ui.info(f"{hidden}: hidden, skipped")
    for own in scan.own:
        ui.info(f"{own}: sacrop's own output (a crop or a sidecar), skipped")
    if out_dir == pipe.STDIO and len(scan.images) + len(scan.missing) + len(scan.skipped) > 1:
        raise click.UsageError("-o - writes the crop of one photo: give one photo")
    if not scan.images and not scan.missing:  # a missing path gets its own error below
        skipped = f" ({len(scan.skipped)} file(s) skipped, -v names them)" if scan.skipped else ""
        ui.warning("no photos found in " + ", ".join(map(str, paths)) + skipped)
    photo_hints: dict[str, Hints] = {}
    if hints_path is not None:
        photo_hints, warnings = hints_file.read_hints_file(hints_path, (p for p, _ in scan.images))
        for message in warnings:
            ui.warning(message)
    stop_requested = ctx.with_resource(interrupts(ui))
    stdout_closed = False
    shown: set[str] = set()

    def show(record: dict[str, Any], warnings: list[str]) -> None:
        """Per photo: manifest line, JSON on stdout, messages, bar (sink and advance: below)."""
        nonlocal stdout_closed
        if stdin is not None:
            warnings = pipe.as_given(record, warnings, str(stdin))
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
            load_cropper(
                ui,
                weights,
                device,
                engine,
                refine=not no_refine,
                faces=faces,
                precision=precision,
            ),
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
            precision=precision,
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
        xmp=xmp is not None,
        xmp_only=xmp == "only",
        xmp_name=xmp_name,
        hints=Hints(keep, avoid, focus),
        photo_hints=photo_hints,
        background=background,
    )
    if preview is not None:
        crop_output.check_preview_target(preview, preview.parent)
    if preview_dir is not None:
        crop_output.check_preview_target(preview_dir, preview_dir)
    total = len(scan.images) + len(scan.missing) + len(scan.skipped)
    previous = rerun.previous_records(manifest)  # before the sink replaces it
    with crop_output.jsonl_sink(manifest) as sink, ui.progress(total, "Cropping") as advance:
        report = run(
            scan,
            job,
            on_progress=show,
            should_stop=lambda: stop_requested() or stdout_closed,
            previous=previous,
        )
    if stdout_closed:  # end quietly, as Unix tools do when their reader goes away
        silence_stdout()
        raise click.exceptions.Exit(141)  # 128 + SIGPIPE
    for message in report.warnings:
        if message not in shown:  # warnings about the run as a whole
            ui.warning(message)
    if preview is not None or preview_dir is not None:
        crop_output.write_previews(ui, report.records, preview, preview_dir, max_pixels)
    ui.print(crop_output.summary(report, out_dir, dry_run, xmp or ""))
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
