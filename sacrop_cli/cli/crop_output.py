"""What ``sacrop crop`` writes besides the crops: the manifest as it goes, the summary table
and the preview sheets (their folders checked before any crop is written)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli import pipe
from sacrop_cli.cli.console import UI
from sacrop_cli.errors import SacropError
from sacrop_cli.io.atomic import atomic_open, stale_temp_files

if TYPE_CHECKING:
    from sacrop_cli.record import PhotoRecord
    from sacrop_cli.viz import sheets
else:
    sheets = lazy_module("sacrop_cli.viz.sheets")


@contextlib.contextmanager
def jsonl_sink(path: Path | None) -> Iterator[IO[str] | None]:
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


def summary(report: Any, out_dir: str, dry_run: bool, xmp: str) -> Any:
    from rich import box
    from rich.table import Table

    c = report.counts
    table = Table(show_header=False, box=box.SIMPLE)
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_row("Photos", str(c["images"]))
    if c["already_done"]:
        table.add_row("Photos already done (skipped, not read)", str(c["already_done"]))
    where = "standard output" if out_dir == pipe.STDIO else out_dir
    if dry_run:
        table.add_row("Crops found (dry run, none written)", str(c["crops"]))
    elif xmp != "only":
        table.add_row(f"Crops written to {where}", str(c["crops_written"]))
        table.add_row("Already existing (kept)", str(c["crops_existing"]))
    if xmp and not dry_run:
        table.add_row(f"XMP sidecars written to {where}", str(c["sidecars"]))
    table.add_row("Skipped files (not images)", str(c["skipped_files"]))
    table.add_row("Errors", str(c["errors"] + c["missing"]), style="red" if report.failed else None)
    if report.stopped:
        table.add_row(f"Not processed ({report.stopped})", str(c["not_processed"]), style="yellow")
    table.add_row("Time", f"{c['seconds']:.1f} s")
    return table


def check_preview_target(path: Path, folder: Path) -> None:
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


def write_previews(
    ui: UI,
    records: list[PhotoRecord],
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
