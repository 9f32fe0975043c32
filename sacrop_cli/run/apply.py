"""``sacrop apply``: write exactly the crops a manifest lists, as ``sacrop crop`` would have.

A manifest (``crop --manifest``, or one a person edited or reviewed) says per photo its
``source``, each crop's ``ratio``, ``rank`` and ``box``, and when given its upright ``width``
and ``height`` and the ``folder`` ``crop`` put its crops in; that is all this reads. The crops
are named, written (atomically, with the photo's metadata, in its format or the job's) and kept
or overwritten by the writers of ``crop`` (:mod:`sacrop_cli.run.writers`), in the record's
folder under the output folder (sub-folders mirrored from the folder the photos share for a
record without one), never outside it. A photo whose box lies outside it, is empty, or is not
of its ratio beyond pixel rounding, or that is no longer of its record's size, fails with one
line naming it; a line that is not a record is one error line; a crop listed twice is one
warning (the first is kept); the others are written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sacrop_cli.errors import SacropError
from sacrop_cli.io.imageio import open_for_analysis
from sacrop_cli.io.inputs import InputScan
from sacrop_cli.io.jsonl import json_lines
from sacrop_cli.io.schema import Invalid, validate
from sacrop_cli.io.storage import photo_key
from sacrop_cli.ratios import parse_ratio
from sacrop_cli.record import MANIFEST_RECORD, PhotoRecord, fail, new_record
from sacrop_cli.run.driver import PhotoResult
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.naming import Namer, OutputPlan
from sacrop_cli.run.report import BatchReport, ProgressCallback, start_run
from sacrop_cli.run.threads import in_order
from sacrop_cli.run.writers import DecodeAhead, LocalWriter, write_ahead
from sacrop_cli.search import Crop

#: A box is of its ratio when its height (or its width) is within this many pixels of the
#: ratio's for its width (height): windows are rounded to whole pixels, and so are edited boxes.
RATIO_SLACK = 1.0


#: Records with these statuses name no photo to write: a file that is not a photo (``skipped``)
#: or a photo that failed; ``apply`` passes over them, counted.
PASSED_OVER = frozenset({"skipped", "error"})


@dataclass
class Entry:
    """A photo of a manifest: its source as first named, its crops in order, and the upright
    size and crop folder its records give (None: not given)."""

    source: str
    crops: list[Crop] = field(default_factory=list)
    size: tuple[int, int] | None = None
    folder: str | None = None


def _name_key(crop: Crop) -> tuple[str, int]:
    """What makes two crops of a photo one file: the name's ratio part and the rank."""
    return crop.ratio.replace(":", "x").replace("/", "x").casefold(), crop.rank


def read_manifest(
    path: Path, passed: list[str] | None = None
) -> tuple[dict[str, Entry], list[str], list[str]]:
    """Per photo (keyed by its real path), its entry; an error per line that is not a manifest
    record; a warning per crop listed twice (the first kept). The sources of the records of
    :data:`PASSED_OVER` statuses go to ``passed`` instead. SacropError when the file cannot be
    read."""
    photos: dict[str, Entry] = {}
    errors, warnings = [], []
    for number, value, bad in json_lines(path, "manifest"):
        where = f"{path}:{number}"
        if bad is not None:
            errors.append(f"{where}: {bad}")
            continue
        source = value.get("source") if isinstance(value, dict) else None
        named = f"{source}: " if isinstance(source, str) and source.isprintable() else ""
        try:
            record = validate(value, MANIFEST_RECORD)
            crops = [_crop(c) for c in record.get("crops") or []]
        except Invalid as err:
            errors.append(f"{where}: {named}not a manifest record ({err})")
            continue
        except ValueError as err:
            errors.append(f"{where}: {named}{err}")
            continue
        if record.get("status") in PASSED_OVER:
            if passed is not None:
                passed.append(record["source"])
            continue
        entry = photos.setdefault(photo_key(record["source"]), Entry(record["source"]))
        width, height = record.get("width"), record.get("height")
        if entry.size is None and width is not None and height is not None:
            entry.size = (width, height)
        if entry.folder is None:
            entry.folder = record.get("folder")
        taken = {_name_key(c) for c in entry.crops}
        for crop in crops:
            if _name_key(crop) in taken:
                warnings.append(
                    f"{where}: {record['source']}: crop {crop.ratio} #{crop.rank} is listed "
                    "again; the first one is kept"
                )
                continue
            taken.add(_name_key(crop))
            entry.crops.append(crop)
    return photos, errors, warnings


def _crop(entry: dict[str, Any]) -> Crop:
    """A crop of a record (checked by its schema); ValueError when its ratio is not one."""
    ratio, rank = entry["ratio"], entry["rank"]
    try:
        parse_ratio(ratio)
    except ValueError as err:
        raise ValueError(f"crop {ratio} #{rank}: {err}") from None
    return Crop(ratio, rank, tuple(entry["box"]), entry.get("score") or 0.0, entry.get("note"))


def check_box(crop: Crop, width: int, height: int) -> str | None:
    """Why ``crop``'s box cannot be cut from a ``width x height`` upright photo (outside it,
    empty, or not of its ratio beyond :data:`RATIO_SLACK`), or None."""
    x1, y1, x2, y2 = crop.box
    named = f"crop {crop.ratio} #{crop.rank}: box {list(crop.box)}"
    if x2 <= x1 or y2 <= y1:
        return f"{named} is empty"
    if x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        return f"{named} is outside the {width}x{height} photo"
    ratio = parse_ratio(crop.ratio)
    if ratio.kind == "any":
        return None
    rw, rh = (width, height) if ratio.kind == "original" else (ratio.w, ratio.h)
    w, h = x2 - x1, y2 - y1
    if abs(h - w * rh / rw) > RATIO_SLACK and abs(w - h * rw / rh) > RATIO_SLACK:
        return f"{named} is {w}x{h}, not {crop.ratio}"
    return None


def _is_file(source: str) -> bool:
    """Whether ``source`` is a file; a name the system refuses (too long...) is none."""
    try:
        return Path(source).is_file()
    except (OSError, ValueError):
        return False


def _folders(entries: list[Entry]) -> dict[str, str]:
    """The folder of each photo's crops, relative to the output folder: the one its record
    gives (as ``crop`` placed them), else mirrored from the folder the photos without one
    share (their real paths: never with ``..``); the top for one photo alone."""
    loose = [os.path.dirname(photo_key(e.source)) for e in entries if e.folder is None]
    root = os.path.commonpath(loose) if len(loose) > 1 else None
    return {
        e.source: e.folder
        if e.folder is not None
        else os.path.relpath(os.path.dirname(photo_key(e.source)), root)
        if root is not None
        else "."
        for e in entries
    }


def _plan(namer: Namer, path: Path, sub: str, out_dir: Path) -> OutputPlan:
    """The photo's plan in ``sub`` of ``out_dir``; SacropError when it would lead out of it,
    by its ``..`` or by a link on the way (the real path is checked before any write)."""
    try:
        plan = namer.plan_in(path, sub)
    except ValueError as err:
        raise SacropError(f"{path}: its crops' folder {err}") from None
    real_out = out_dir.resolve()
    if not Path(plan.folder).resolve().is_relative_to(real_out):
        raise SacropError(f"{path}: its crops' folder {plan.folder} leads out of {out_dir}")
    return plan


def apply_manifest(
    manifest: Path, job: CropJob, *, on_progress: ProgressCallback | None = None
) -> BatchReport:
    """Write the crops ``manifest`` lists as ``job`` says (out_dir, format, quality, max_size,
    overwrite; its ratios and hints are not used): one record per photo in the report, and one
    failed record per malformed line; the records of files that were not photos or failed are
    passed over (``counts["passed_over"]``). Raises OutputError when the output folder is
    unusable."""
    passed: list[str] = []
    entries, errors, duplicates = read_manifest(manifest, passed)
    by_source = {str(Path(e.source)): e for e in entries.values()}
    folders = _folders(list(entries.values()))
    scan = InputScan()
    for source in (e.source for e in entries.values()):
        if _is_file(source):
            scan.images.append((Path(source), None))
        else:
            scan.missing.append(source)
    report, images, emit = start_run(scan, job, on_progress)
    report.warnings.extend(duplicates)
    report.counts["passed_over"] = len(passed)
    for message in errors:  # a line that names no photo: a failed record of its own
        record = new_record(message.split(": ", 1)[0])
        record["status"], record["error"] = "error", message
        report.count_photo(record)
        emit(record, [])
    namer = Namer(job.out_dir, job.format, (p for p, _ in images))

    def checked() -> Iterator[PhotoResult]:
        for position, (path, _) in enumerate(images):
            entry = by_source[str(path)]
            record = new_record(path)
            crops, plan = None, None
            try:
                plan = _plan(namer, path, folders[entry.source], Path(job.out_dir))
                crops = _checked(path, entry, record, job)
            except (SacropError, OSError, ValueError) as err:
                fail(record, path, err)
                crops = None
            yield PhotoResult(path, plan, record, crops, position=position)

    def stopping() -> bool:
        return report.stopped is not None

    done = 0
    decoder = DecodeAhead(LocalWriter(namer.is_source), job)  # decodes and writes on its workers
    with contextlib.closing(write_ahead(decoder, checked(), stopping)) as written:
        for result in in_order(written):
            report.stopped = report.stopped or result.stop
            report.count_photo(result.record)
            emit(result.record, result.warnings)
            done += 1
    report.counts["not_processed"] = len(images) - done
    return report


def _checked(path: Path, entry: Entry, record: PhotoRecord, job: CropJob) -> list[Crop]:
    """The entry's crops once the photo is read (its upright size put in ``record``) and
    found to be the one the record describes; SacropError says why not."""
    _, (width, height) = open_for_analysis(path, 64, max_pixels=job.max_pixels)
    record["width"], record["height"] = width, height
    if entry.size is not None and entry.size != (width, height):
        raise SacropError(
            f"{path}: the photo is {width}x{height} but its record is of a "
            f"{entry.size[0]}x{entry.size[1]} photo (replaced since?); not cropped"
        )
    problems = [why for why in (check_box(c, width, height) for c in entry.crops) if why]
    if problems:
        raise SacropError(f"{path}: {'; '.join(problems)}")
    return entry.crops
