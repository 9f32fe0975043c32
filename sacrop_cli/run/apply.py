"""``sacrop apply``: write exactly the crops a manifest lists, as ``sacrop crop`` would have.

A manifest (``crop --manifest``, or one a person edited or reviewed) says per photo its
``source`` and each crop's ``ratio``, ``rank`` and ``box``; that is all this reads. The crops
are named, written (atomically, with the photo's metadata, in its format or the job's) and kept
or overwritten by the writers of ``crop`` (:mod:`sacrop_cli.run.writers`). Sub-folders are
mirrored from the folder the photos share. A photo whose box lies outside it, is empty, or is
not of its ratio beyond pixel rounding fails with one line naming it; the others are written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sacrop_cli.errors import SacropError
from sacrop_cli.io.imageio import open_for_analysis
from sacrop_cli.io.inputs import InputScan
from sacrop_cli.io.jsonl import json_lines
from sacrop_cli.ratios import parse_ratio
from sacrop_cli.record import fail, new_record
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.naming import Namer
from sacrop_cli.run.report import BatchReport, ProgressCallback, start_run
from sacrop_cli.run.writers import LocalWriter, finish_photo
from sacrop_cli.search import Crop

#: A box is of its ratio when its height (or its width) is within this many pixels of the
#: ratio's for its width (height): windows are rounded to whole pixels, and so are edited boxes.
RATIO_SLACK = 1.0


def read_manifest(path: Path) -> tuple[dict[str, list[Any]], list[str]]:
    """Per photo (its ``source``), the crops its records list, in order; and an error per line
    that is not a record with a ``source`` and a list of ``crops``. SacropError when the file
    cannot be read."""
    photos: dict[str, list[Any]] = {}
    errors = []
    for number, record, not_json in json_lines(path, "manifest"):
        if not_json is not None:
            errors.append(f"{path}:{number}: not JSON ({not_json})")
            continue
        source = record.get("source") if isinstance(record, dict) else None
        crops = record.get("crops") or [] if isinstance(record, dict) else None
        if not isinstance(source, str) or not source or not isinstance(crops, list):
            errors.append(f"{path}:{number}: not a manifest record (a source and its crops)")
            continue
        photos.setdefault(source, []).extend(crops)
    return photos, errors


def _crop(entry: Any) -> Crop:
    """A crop of a record; ValueError says what is missing."""
    if not isinstance(entry, dict):
        raise ValueError("a crop is an object with ratio, rank and box")
    ratio, rank, box = entry.get("ratio"), entry.get("rank"), entry.get("box")
    if not isinstance(ratio, str) or not isinstance(rank, int) or isinstance(rank, bool):
        raise ValueError(f"crop {ratio} #{rank}: a crop has a ratio (text) and a rank (number)")
    if rank < 1:
        raise ValueError(f"crop {ratio} #{rank}: ranks start at 1")
    if not isinstance(box, list) or len(box) != 4 or not all(_whole(v) for v in box):
        raise ValueError(f"crop {ratio} #{rank}: box {box} is not four whole pixels")
    try:
        parse_ratio(ratio)
    except ValueError as err:
        raise ValueError(f"crop {ratio} #{rank}: {err}") from None
    score = entry.get("score")
    return Crop(
        ratio,
        rank,
        tuple(int(v) for v in box),  # type: ignore[arg-type]
        float(score) if isinstance(score, (int, float)) else 0.0,
        entry.get("note") if isinstance(entry.get("note"), str) else None,
    )


def _whole(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == int(value)


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


def _root(sources: list[str]) -> str | None:
    """The folder the photos share, whose sub-folders are mirrored under the output folder
    (None for one photo, or for paths some absolute and some relative)."""
    if len(sources) < 2 or len({os.path.isabs(s) for s in sources}) > 1:
        return None
    return os.path.commonpath([os.path.dirname(os.path.normpath(s)) or "." for s in sources])


def apply_manifest(
    manifest: Path, job: CropJob, *, on_progress: ProgressCallback | None = None
) -> BatchReport:
    """Write the crops ``manifest`` lists as ``job`` says (out_dir, format, quality, max_size,
    overwrite; its ratios and hints are not used): one record per photo in the report, and one
    failed record per malformed line. Raises OutputError when the output folder is unusable."""
    photos, errors = read_manifest(manifest)
    root = _root(list(photos))
    scan = InputScan()
    for source in photos:
        if Path(source).is_file():
            scan.images.append((Path(source), Path(root) if root is not None else None))
        else:
            scan.missing.append(source)
    report, images, emit = start_run(scan, job, on_progress)
    for message in errors:  # a line that names no photo: a failed record of its own
        record = new_record(message.split(": ", 1)[0])
        record["status"], record["error"] = "error", message
        report.count_photo(record)
        emit(record, [])
    namer = Namer(job.out_dir, job.format, (p for p, _ in images))
    writer = LocalWriter(namer.is_source)
    done = 0
    for path, photo_root in images:
        plan = namer.plan(path, photo_root)
        record = new_record(path)
        crops = None
        try:
            crops = [_crop(entry) for entry in photos[str(path)]]
            _, (width, height) = open_for_analysis(path, 64, max_pixels=job.max_pixels)
            record["width"], record["height"] = width, height
            problems = [why for why in (check_box(c, width, height) for c in crops) if why]
            if problems:
                raise SacropError(f"{path}: {'; '.join(problems)}")
        except (SacropError, OSError, ValueError) as err:
            fail(record, path, err)
            crops = None
        warnings, report.stopped = finish_photo(record, crops, Path(path), plan, writer, job)
        report.count_photo(record)
        emit(record, warnings)
        done += 1
        if report.stopped:
            break
    report.counts["not_processed"] = len(images) - done
    return report
