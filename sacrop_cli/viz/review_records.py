"""The records of a ``sacrop review``: the photos analysed (or taken from the manifest FILE),
the changes a person makes, and FILE saved after each one.

A reviewed record holds sacrop's proposals (every rank of every ratio, the choices offered) and
one crop per ratio, rank 1's slot, which ``sacrop apply`` writes: so the files keep the names
``crop -k 1`` gives them, whichever rank or box the person chose. The keys are defined in
:mod:`sacrop_cli.record`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sacrop_cli.api import Cropper
from sacrop_cli.candidates import fit_box
from sacrop_cli.io.atomic import atomic_open, stale_temp_files
from sacrop_cli.io.inputs import InputScan
from sacrop_cli.ratios import Ratio, parse_ratio
from sacrop_cli.record import CropRecord, PhotoRecord, read_records
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


def _key(source: Path | str) -> str:
    return os.path.realpath(source)


@dataclass
class Plan:
    """Which given photos FILE already has records for and which are to be analysed."""

    reused: dict[str, PhotoRecord]  # by real path
    to_analyse: InputScan
    others: list[PhotoRecord]  # FILE's records of photos not given: kept, not shown


def plan(scan: InputScan, previous: Sequence[PhotoRecord], ratios: Sequence[str]) -> Plan:
    """Reuse FILE's record of a given photo when it was analysed for exactly ``ratios``; analyse
    the others (and the photos it failed on: they may be readable now)."""
    given = {_key(path) for path, _ in scan.images}
    reused: dict[str, PhotoRecord] = {}
    others = []
    for record in previous:
        key = _key(record["source"])
        if key not in given:
            others.append(record)
        elif record["status"] == "ok" and {c["ratio"] for c in record["crops"]} == set(ratios):
            reused[key] = review_form(record)
    rest = InputScan(
        images=[(p, r) for p, r in scan.images if _key(p) not in reused],
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
) -> list[PhotoRecord]:
    """The records of the given photos, in ``crop --manifest``'s order: the photos of
    ``the_plan.to_analyse`` analysed by the local run (a dry run: nothing written), the others
    reused. ``cropper()`` is called only when there is a photo to analyse."""
    job = CropJob(ratios=tuple(ratios), top_k=choices, dry_run=True)
    analysed = run_batch(cropper, the_plan.to_analyse, job, on_progress=on_progress).records
    return merge(the_plan, scan, analysed)


def merge(the_plan: Plan, scan: InputScan, analysed: Sequence[PhotoRecord]) -> list[PhotoRecord]:
    """Reused and analysed records in input order (missing and skipped paths first)."""
    images = {_key(p) for p, _ in scan.images}
    by_key = {**{_key(r["source"]): r for r in analysed}, **the_plan.reused}
    unprocessed = [
        r for r in analysed if r["status"] == "skipped" or _key(r["source"]) not in images
    ]
    photos = [by_key.get(_key(p)) for p, _ in scan.images]
    return [*unprocessed, *(review_form(r) for r in photos if r and r["status"] != "skipped")]


def load_previous(path: Path) -> list[PhotoRecord]:
    """FILE's records, or none when it does not exist yet."""
    return read_records(path) if path.exists() else []


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def aspect(ratio: str, width: int, height: int) -> float | None:
    """Width over height of a ratio's boxes on a ``width x height`` photo (None: any)."""
    parsed = parse_ratio(ratio)
    if parsed.kind == "any":
        return None
    return width / height if parsed.kind == "original" else parsed.w / parsed.h


class ReviewSession:
    """The records a review serves, and FILE, rewritten whole and atomically after each change.

    Changes are made one at a time (a lock); :meth:`close` waits for the one being saved and
    refuses any later one, so that FILE is complete when the process ends.
    """

    def __init__(
        self, path: Path, records: list[PhotoRecord], others: Sequence[PhotoRecord] = ()
    ) -> None:
        self.path, self.records, self.others = Path(path), records, list(others)
        self.shown = [i for i, r in enumerate(records) if r["status"] != "skipped"]
        self._lines = [json.dumps(r) + "\n" for r in [*records, *self.others]]
        self._lock = threading.Lock()
        self._closed = False

    def save(self) -> None:
        for stale in stale_temp_files(self.path.parent).get(self.path.name, ()):
            stale.unlink(missing_ok=True)  # left by a killed review
        with atomic_open(self.path, "w", durable=True) as fh:
            fh.writelines(self._lines)

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def servable(self, index: int) -> PhotoRecord | None:
        """The record of a photo given on the command line that can be shown, else None."""
        if 0 <= index < len(self.records) and self.records[index]["status"] == "ok":
            return self.records[index]
        return None

    def page(self, offset: int, limit: int) -> dict[str, Any]:
        indices = self.shown[max(0, offset) : max(0, offset) + max(0, limit)]
        return {
            "file": str(self.path),
            "total": len(self.shown),
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
        record = self.servable(index) if isinstance(index, int) else None
        if record is None:
            raise ValueError("no such photo")
        action = request.get("action")
        with self._lock:
            if self._closed:
                raise ValueError("the review has ended")
            if action == "done":
                _mark_done(record, bool(request.get("done")))
            else:
                slot = _slot(record, request.get("ratio"))
                _CHANGES.get(action, _unknown)(record, slot, request)
            self._lines[index] = json.dumps(record) + "\n"
            self.save()
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


def _set_box(record: PhotoRecord, slot: int, request: dict[str, Any]) -> None:
    box = request.get("box")
    numbers = isinstance(box, list) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e9 for v in box
    )
    if not numbers or len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError("box must be four numbers x1, y1, x2, y2 with x1 < x2 and y1 < y2")
    current = record["crops"][slot]
    fitted = fit_box(box, parse_ratio(current["ratio"]), record["width"], record["height"])
    crop = _chosen(record, slot, fitted, current["score"], None)
    crop.update(chosen="box", chosen_at=_now())
    record["crops"][slot] = crop


def _reset(record: PhotoRecord, slot: int, request: dict[str, Any]) -> None:
    record["crops"][slot] = dict(_proposal(record, record["crops"][slot]["ratio"], 1))


def _unknown(record: PhotoRecord, slot: int, request: dict[str, Any]) -> None:
    raise ValueError("action must be rank, box, reset or done")


_CHANGES: dict[str, Callable[[PhotoRecord, int, dict[str, Any]], None]] = {
    "rank": _choose_rank,
    "box": _set_box,
    "reset": _reset,
}
