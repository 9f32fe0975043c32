"""The records of a ``sacrop review``: the photos analysed (or taken from the manifest FILE),
the changes a person makes, and FILE saved after each one.

A reviewed record holds sacrop's proposals (every rank of every ratio, the choices offered) and
one crop per ratio, rank 1's slot, which ``sacrop apply`` writes: so the files keep the names
``crop -k 1`` gives them, whichever rank or box the person chose. The keys are defined in
:mod:`sacrop_cli.record`.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sacrop_cli.api import Cropper
from sacrop_cli.candidates import fit_box
from sacrop_cli.errors import OutputError
from sacrop_cli.hints import Hints
from sacrop_cli.io import schema as S
from sacrop_cli.io.atomic import atomic_open, check_replaceable, check_writable, stale_temp_files
from sacrop_cli.io.jsonl import json_lines
from sacrop_cli.io.storage import photo_key
from sacrop_cli.io.inputs import InputScan
from sacrop_cli.ratios import Ratio, parse_ratio
from sacrop_cli.record import REVIEW_RECORD, CropRecord, PhotoRecord
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.local import run_batch
from sacrop_cli.run.report import ProgressCallback

#: Ranks offered per ratio unless ``-k`` says otherwise.
DEFAULT_CHOICES = 3
#: Keys a person's change adds to a crop (removed again by a reset).
REVIEW_KEYS = ("proposed", "chosen", "chosen_rank", "chosen_at")


def review_form(record: PhotoRecord) -> PhotoRecord:
    """A record as the review keeps it: a ``crop --manifest`` record's crops (every rank) become
    its proposals, and its crops rank 1 of each ratio; a reviewed record is kept as it is."""
    if record["status"] != "ok" or "proposals" in record:
        return record
    proposals = [dict(c) for c in record["crops"]]
    crops = [dict(c) for c in record["crops"] if c["rank"] == 1]
    return {**record, "crops": crops, "proposals": proposals}  # type: ignore[typeddict-item]


@dataclass
class Plan:
    """Which given photos FILE already has records for and which are to be analysed."""

    reused: dict[str, PhotoRecord]  # by real path
    to_analyse: InputScan
    others: list[PhotoRecord]  # FILE's records of photos not given: kept, not shown


def plan(scan: InputScan, previous: Sequence[PhotoRecord], ratios: Sequence[str]) -> Plan:
    """Reuse FILE's record of a given photo when it was analysed for exactly ``ratios``; analyse
    the others (and the photos it failed on: they may be readable now)."""
    given = {photo_key(path) for path, _ in scan.images}
    reused: dict[str, PhotoRecord] = {}
    others = []
    seen = set()
    for record in previous:
        key = photo_key(record["source"])
        if key not in given or key in seen:  # not given, or a second record of one: kept
            others.append(record)
        elif record["status"] == "ok" and {c["ratio"] for c in record["crops"]} == set(ratios):
            reused[key] = review_form(record)
        seen.add(key)
    rest = InputScan(
        images=[(p, r) for p, r in scan.images if photo_key(p) not in reused],
        skipped=scan.skipped,
        missing=scan.missing,
    )
    return Plan(reused, rest, others)


def analyse(
    cropper: Callable[[], Cropper],
    the_plan: Plan,
    scan: InputScan,
    ratios: Sequence[str | Ratio],
    choices: int = DEFAULT_CHOICES,
    on_progress: ProgressCallback | None = None,
    hints: tuple[Hints, Mapping[str, Hints]] = (Hints(), {}),
) -> list[PhotoRecord]:
    """The records of the given photos, in ``crop --manifest``'s order: the photos of
    ``the_plan.to_analyse`` analysed by the local run (a dry run: nothing written) with
    ``hints`` (every photo's, and each photo's own, as :class:`CropJob` takes them), the others
    reused. ``cropper()`` is called only when there is a photo to analyse."""
    every, own = hints
    job = CropJob(
        ratios=tuple(ratios), top_k=choices, dry_run=True, hints=every, photo_hints=own
    )
    analysed = run_batch(cropper, the_plan.to_analyse, job, on_progress=on_progress).records
    return merge(the_plan, scan, analysed)


def merge(the_plan: Plan, scan: InputScan, analysed: Sequence[PhotoRecord]) -> list[PhotoRecord]:
    """Reused and analysed records in input order (missing and skipped paths first)."""
    images = {photo_key(p) for p, _ in scan.images}
    by_key = {**{photo_key(r["source"]): r for r in analysed}, **the_plan.reused}
    unprocessed = [
        r for r in analysed if r["status"] == "skipped" or photo_key(r["source"]) not in images
    ]
    photos = [by_key.get(photo_key(p)) for p, _ in scan.images]
    return [*unprocessed, *(review_form(r) for r in photos if r and r["status"] != "skipped")]


def read_review_file(path: Path) -> tuple[list[PhotoRecord], list[str]]:
    """FILE's records (none when it does not exist yet) and a warning per line that is not a
    review's record (:data:`REVIEW_RECORD`; left out, so FILE is saved without it) and per
    second record of one photo (kept in FILE as it is, not shown: the first is reviewed).
    SacropError when FILE cannot be read."""
    if not path.exists():
        return [], []
    records, warnings, seen = [], [], set()
    for number, value, bad in json_lines(path, "review file"):
        where = f"{path}:{number}"
        try:
            if bad is not None:
                raise ValueError(bad)
            record = S.validate(value, REVIEW_RECORD)
            if record["status"] == "ok" and not (record.get("width") and record.get("height")):
                raise ValueError("a record of status ok has a width and a height")
        except ValueError as err:
            warnings.append(f"{where}: {err}; line left out (not saved back)")
            continue
        key = photo_key(record["source"])
        if key in seen:
            warnings.append(
                f"{where}: a second record of {record['source']}: kept as it is, not shown"
            )
        seen.add(key)
        records.append(record)
    return records, warnings


def check_file(path: Path) -> None:
    """OutputError when FILE could not be saved (read-only, or its folder refuses new files):
    found before the photos are analysed, not after."""
    if os.path.isdir(path):
        raise OutputError(f"{path}: cannot write: a folder is in its place")
    check_writable(os.path.realpath(path))


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def aspect(ratio: str, width: int, height: int) -> float | None:
    """Width over height of a ratio's boxes on a ``width x height`` photo (None: any)."""
    parsed = parse_ratio(ratio)
    if parsed.kind == "any":
        return None
    return width / height if parsed.kind == "original" else parsed.w / parsed.h


#: The network's score of a box of a photo (its ``source``): the score of a box a person drew.
BoxScore = Callable[[str, Sequence[int]], float]


class BoxScorer:
    """:data:`BoxScore` by a Cropper made when first needed, the last photos' analyses kept
    (a person moves one photo's box several times in a row), as ``sacrop score --box`` scores."""

    def __init__(self, cropper: Callable[[], Cropper], keep: int = 4) -> None:
        self._make, self._cropper, self._keep = cropper, None, keep
        self._photos: dict[str, Any] = {}

    def __call__(self, source: str, box: Sequence[int]) -> float:
        import numpy as np

        if self._cropper is None:
            self._cropper = self._make()
        if source not in self._photos:
            while len(self._photos) >= self._keep:
                self._photos.pop(next(iter(self._photos)))
            self._photos[source] = self._cropper.load(source)
        boxes = np.asarray([box], dtype=np.float64)
        return float(self._cropper.score_many([self._photos[source]], [boxes])[0][0])


class ReviewSession:
    """The records a review serves, and FILE, rewritten whole and atomically after each change.

    Changes are made one at a time (a lock); :meth:`close` waits for the one being saved and
    refuses any later one, so that FILE is complete when the process ends. ``rescore`` gives a
    box a person drew the network's score, saved as its crop's (without it, the box keeps the
    score of the crop it came from).
    """

    rescore: BoxScore | None = None

    def __init__(
        self, path: Path, records: list[PhotoRecord], others: Sequence[PhotoRecord] = ()
    ) -> None:
        self.path, self.records, self.others = Path(path), records, list(others)
        self.shown = [i for i, r in enumerate(records) if r["status"] != "skipped"]
        self._lines = [json.dumps(r) + "\n" for r in [*records, *self.others]]
        self._lock = threading.Lock()
        self._closed = False

    def save(self, lines: Sequence[str] | None = None) -> None:
        """Write ``lines`` (the session's own by default) to FILE; through a symbolic link to
        the file it names, so that the link stays one. A read-only FILE is left as it is
        (OutputError)."""
        target = Path(os.path.realpath(self.path))
        check_replaceable(target)
        for stale in stale_temp_files(target.parent).get(target.name, ()):
            stale.unlink(missing_ok=True)  # left by a killed review
        with atomic_open(target, "w", durable=True) as fh:
            fh.writelines(self._lines if lines is None else lines)

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def servable(self, index: int) -> PhotoRecord | None:
        """The record of a photo given on the command line that can be shown, else None."""
        if isinstance(index, bool) or not isinstance(index, int):
            return None
        if 0 <= index < len(self.records) and self.records[index]["status"] == "ok":
            return self.records[index]
        return None

    def page(self, offset: int, limit: int) -> dict[str, Any]:
        indices = self.shown[max(0, offset) : max(0, offset) + max(0, limit)]
        return {
            "file": str(self.path),
            "total": len(self.shown),
            "done": sum(1 for i in self.shown if self.records[i].get("reviewed")),
            "offset": offset,
            "photos": [self.view(i) for i in indices],
        }

    def view(self, index: int) -> dict[str, Any]:
        """What the page shows of a record: its crops with their proposals, per ratio."""
        record = self.records[index]
        width, height = record["width"], record["height"]
        proposals = record.get("proposals", record["crops"])
        return {
            "index": index,
            "source": record["source"],
            "width": width,
            "height": height,
            "status": record["status"],
            "error": record["error"],
            "reviewed": record.get("reviewed"),
            "ratios": [
                {
                    "ratio": crop["ratio"],
                    "aspect": aspect(crop["ratio"], width, height),
                    "crop": crop,
                    "proposals": [p for p in proposals if p["ratio"] == crop["ratio"]],
                }
                for crop in record["crops"]
            ],
        }

    def change(self, request: dict[str, Any]) -> dict[str, Any]:
        """Apply one change (``action``: rank, box, reset or done), save FILE, return the photo's
        view; ValueError says what is wrong with the request."""
        index = request.get("index")
        if self.servable(index) is None:
            raise ValueError("no such photo")
        action = request.get("action")
        with self._lock:
            if self._closed:
                raise ValueError("the review has ended")
            record = copy.deepcopy(self.records[index])  # kept only once FILE has it
            if action == "done":
                _mark_done(record, bool(request.get("done")))
            elif action == "box":
                _set_box(record, _slot(record, request.get("ratio")), request, self.rescore)
            else:
                slot = _slot(record, request.get("ratio"))
                _CHANGES.get(action, _unknown)(record, slot, request)
            lines = [*self._lines]
            lines[index] = json.dumps(record) + "\n"
            self.save(lines)
            self.records[index], self._lines = record, lines
        return self.view(index)


def _slot(record: PhotoRecord, ratio: object) -> int:
    for i, crop in enumerate(record["crops"]):
        if crop["ratio"] == ratio:
            return i
    raise ValueError(f"no crop of ratio {ratio!r}")


def _mark_done(record: PhotoRecord, done: bool) -> None:
    if done:
        record["reviewed"] = _now()
    else:
        record.pop("reviewed", None)


def _proposal(record: PhotoRecord, ratio: str, rank: int) -> CropRecord:
    for crop in record.get("proposals", record["crops"]):
        if crop["ratio"] == ratio and crop["rank"] == rank:
            return crop
    raise ValueError(f"no rank {rank} of ratio {ratio}")


def _chosen(
    record: PhotoRecord, slot: int, box: Sequence[int], score: float, note: str | None
) -> CropRecord:
    """The slot's crop with the chosen box, its review keys after the others."""
    crop = record["crops"][slot]
    first = _proposal(record, crop["ratio"], 1)
    plain = {k: v for k, v in crop.items() if k not in REVIEW_KEYS}
    return {  # type: ignore[typeddict-item]
        **plain,
        "box": [int(v) for v in box],
        "score": score,
        "note": note,
        "proposed": {"box": list(first["box"]), "score": first["score"]},
    }


def _choose_rank(record: PhotoRecord, slot: int, request: dict[str, Any]) -> None:
    rank = request.get("rank")
    if not isinstance(rank, int) or isinstance(rank, bool):
        raise ValueError("rank must be a whole number")
    picked = _proposal(record, record["crops"][slot]["ratio"], rank)
    crop = _chosen(record, slot, picked["box"], picked["score"], picked["note"])
    crop.update(chosen="rank", chosen_rank=rank, chosen_at=_now())
    record["crops"][slot] = crop


def _set_box(
    record: PhotoRecord, slot: int, request: dict[str, Any], rescore: BoxScore | None = None
) -> None:
    """The box a person drew, fitted to its ratio (a box of the crop's own size, moved, keeps
    that size exactly), with the network's score when ``rescore`` is given."""
    box = request.get("box")
    numbers = isinstance(box, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e9 for v in box
    )
    if not numbers or len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError("box must be four numbers x1, y1, x2, y2 with x1 < x2 and y1 < y2")
    current = record["crops"][slot]
    fitted = _moved(box, current["box"], record["width"], record["height"])
    if fitted is None:
        fitted = fit_box(box, parse_ratio(current["ratio"]), record["width"], record["height"])
    score = current["score"] if rescore is None else rescore(record["source"], fitted)
    crop = _chosen(record, slot, fitted, score, None)
    crop.update(chosen="box", chosen_at=_now())
    record["crops"][slot] = crop


def _moved(
    box: Sequence[float], current: Sequence[int], width: int, height: int
) -> tuple[int, int, int, int] | None:
    """``box`` in whole pixels inside the photo when it is the ``current`` box moved (the same
    size to half a pixel), so that moving never changes the size; else None."""
    w, h = current[2] - current[0], current[3] - current[1]
    if abs(box[2] - box[0] - w) > 0.5 or abs(box[3] - box[1] - h) > 0.5:
        return None
    x1 = min(max(0, round(box[0])), width - w)
    y1 = min(max(0, round(box[1])), height - h)
    return x1, y1, x1 + w, y1 + h


def _reset(record: PhotoRecord, slot: int, request: dict[str, Any]) -> None:
    record["crops"][slot] = dict(_proposal(record, record["crops"][slot]["ratio"], 1))


def _unknown(record: PhotoRecord, slot: int, request: dict[str, Any]) -> None:
    raise ValueError("action must be rank, box, reset or done")


_CHANGES: dict[str, Callable[[PhotoRecord, int, dict[str, Any]], None]] = {
    "rank": _choose_rank,
    "reset": _reset,
}
