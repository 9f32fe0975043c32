"""A run's report: the records of every input in input order, counts and warnings; and the
start every run shares, local or on Ray (the output checked once, the inputs sorted).

A run stops early, leaving no photo half-done, when it is asked to (Ctrl-C in the CLI) or a
write fails in a way every later photo would too (full disk, read-only file system): the photos
done so far are reported, the others counted as ``not_processed``; a rerun skips the crops
already written and finishes the rest.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sacrop_cli.errors import OutputError
from sacrop_cli.io.inputs import InputScan
from sacrop_cli.io.storage import check_out_uri, is_uri
from sacrop_cli.record import PhotoRecord, missing_record, skipped_record
from sacrop_cli.run.job import CropJob

#: Called after each photo with its manifest record and its warnings.
ProgressCallback = Callable[[PhotoRecord, list[str]], None]


@dataclass
class BatchReport:
    """Manifest records (one per input, in input order), counts and warnings of a run."""

    records: list[PhotoRecord] = field(default_factory=list)
    counts: dict[str, float] = field(
        default_factory=lambda: {
            "images": 0,
            "ok": 0,
            "errors": 0,
            "missing": 0,
            "crops": 0,
            "crops_written": 0,
            "crops_existing": 0,
            "sidecars": 0,
            "already_done": 0,
            "skipped_files": 0,
            "not_processed": 0,
            "seconds": 0.0,
        }
    )
    warnings: list[str] = field(default_factory=list)
    stopped: str | None = None
    """Why the run ended before its last photo ("interrupted", "No space left on device"...)."""
    batch_seconds: list[tuple[int, float]] = field(default_factory=list)
    """``(photos, seconds)`` per scored batch: the reduced decodes the network waited for plus
    its pass, so ``seconds / photos`` is the analysis time per photo (benchmarks read it)."""

    def count_unprocessed(self, record: PhotoRecord) -> None:
        """Count the record of a missing path or a skipped file (see :func:`split_inputs`)."""
        self.counts["missing" if record["status"] == "error" else "skipped_files"] += 1

    def count_photo(self, record: PhotoRecord) -> None:
        """Count the record of a photo that was processed, from what it says."""
        statuses = [entry["status"] for entry in record["crops"]]
        self.counts["images"] += 1
        self.counts["ok" if record["status"] == "ok" else "errors"] += 1
        self.counts["crops"] += len(statuses)
        self.counts["crops_written"] += statuses.count("written")
        self.counts["crops_existing"] += statuses.count("exists")
        self.counts["sidecars"] += record["sidecar"] is not None

    def count_done(self, crops: int) -> None:
        """Count a photo skipped unread because its ``crops`` crop files are all there."""
        self.counts["already_done"] += 1
        self.counts["crops_existing"] += crops

    @property
    def failed(self) -> bool:
        """True when any photo failed or a given path did not exist (exit status 1)."""
        return bool(self.counts["errors"] or self.counts["missing"])


def _skip_reason(path: Path | str) -> str:
    """Why a file found in a folder is not cropped, in a few words."""
    if not is_uri(path):
        if Path(path).is_dir():
            return "the folder cannot be read"
        if not Path(path).is_file():
            return "not a regular file"
    ext = PurePosixPath(path).suffix.lower()
    return f"{ext} files are not photos sacrop reads" if ext else "no file extension"


def _in_output_folder(path: Path | str, root: Path | str | None, out_dir: Path | str) -> bool:
    """Whether a photo found under ``root`` lies in ``out_dir`` (resolved), itself a sub-folder
    of ``root``: the crops of an earlier run, not photos to crop again."""
    if root is None or is_uri(path) != is_uri(out_dir):
        return False
    if is_uri(path):
        out = str(out_dir).rstrip("/")
        return out.startswith(f"{root}/") and str(path).startswith(f"{out}/")
    root = Path(root).resolve()
    return (
        out_dir != root
        and Path(out_dir).is_relative_to(root)
        and Path(path).resolve().is_relative_to(out_dir)
    )


def _check_out_dir(out_dir: Path) -> None:
    """Fail once, before any work, when no crop can be written (not once per photo)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: the output folder is a file")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        reason = err.strerror or err
        raise OutputError(f"{out_dir}: cannot create the output folder: {reason}") from None
    try:
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as err:
        reason = err.strerror or err
        raise OutputError(f"{out_dir}: cannot write to the output folder: {reason}") from None


def start_run(
    inputs: InputScan, job: CropJob, on_progress: ProgressCallback | None
) -> tuple[BatchReport, list[tuple[Path, Path | None]], ProgressCallback]:
    """What a run does first, local or on Ray: check the output folder (or URI) once, when
    there is a photo to write, and report the inputs that are not photos to crop. Returns the
    report, the photos to crop, and ``emit(record, warnings)``, which adds a record to the
    report and shows it."""
    report = BatchReport()
    out_dir, dry_run = job.out_dir, job.dry_run
    images, unprocessed, warnings = split_inputs(inputs, out_dir)
    report.warnings.extend(warnings)
    if images and not dry_run and is_uri(out_dir):
        check_out_uri(str(out_dir))
    elif images and not dry_run and not job.to_stdout:
        _check_out_dir(Path(out_dir))

    def emit(record: PhotoRecord, warnings: list[str]) -> None:
        report.records.append(record)
        report.warnings.extend(warnings)
        if on_progress is not None:
            on_progress(record, warnings)

    for record in unprocessed:
        report.count_unprocessed(record)
        emit(record, [])
    return report, images, emit


def split_inputs(
    inputs: InputScan, out_dir: Path | str
) -> tuple[list[tuple[Path, Path | None]], list[PhotoRecord], list[str]]:
    """The photos to crop; the records of the inputs that are not (missing paths, skipped
    files, photos inside the output folder), in that order; and a warning about the last."""
    out_resolved = out_dir if is_uri(out_dir) else Path(out_dir).resolve()
    images = [(p, r) for p, r in inputs.images if not _in_output_folder(p, r, out_resolved)]
    inside = [p for p, r in inputs.images if _in_output_folder(p, r, out_resolved)]
    warnings = (
        [f"skipped {len(inside)} photo(s) inside the output folder {out_dir}"] if inside else []
    )
    records = [missing_record(missing) for missing in inputs.missing]
    for path, reason in [
        *((p, _skip_reason(p)) for p in inputs.skipped),
        *((p, "inside the output folder (the crops of an earlier run)") for p in inside),
    ]:
        records.append(skipped_record(path, reason))
    return images, records, warnings
