"""A rerun over a finished folder: the photos whose crops are all there already, found from
their output plans alone (no decode, no network), and their records, taken from the previous
manifest when there is one.

A photo is done when a whole crop file is under every name the job would give it: each ratio,
ranks 1 to ``top_k``; whole means an image read to its end (see
:func:`sacrop_cli.io.imageio.is_whole_image`) of the size of its box in the previous manifest,
when there is one. A crop emptied, cut short, overwritten or replaced by a folder is made
again. A photo whose search found fewer than ``top_k`` visibly different framings, or one
with ``--orient auto`` and a ratio that turns (its crops' names depend on the photo's shape),
is analysed again, as before; its existing crops are still kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sacrop_cli.errors import SacropError
from sacrop_cli.io.encode import fit_within, output_name
from sacrop_cli.io.jsonl import json_lines
from sacrop_cli.io.schema import validate
from sacrop_cli.record import MANIFEST_RECORD, PhotoRecord, skipped_record
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.naming import OutputPlan
from sacrop_cli.run.writers import CropWriter

#: The reason in the record of a photo done before, when no previous manifest tells more.
DONE = "its crops are all there (from an earlier run)"


def previous_records(manifest: Path | None) -> dict[str, PhotoRecord]:
    """The records of an earlier run's manifest by source; empty when there is none or it is
    unreadable, and without the lines that are not records (:data:`MANIFEST_RECORD`): it only
    saves work, never decides it."""
    records: dict[str, PhotoRecord] = {}
    if manifest is None:
        return records
    try:
        for _, value, bad in json_lines(manifest, "manifest"):
            try:
                record = validate(value, MANIFEST_RECORD) if bad is None else None
            except ValueError:
                continue
            if record is not None:
                records.setdefault(record["source"], record)
    except SacropError:
        return {}
    return records


def _names_known(job: CropJob) -> bool:
    """Whether the crops' names follow from the job alone (not from each photo's shape)."""
    if not job.orient:
        return True
    return all(ratio.oriented(1, 2) == ratio.oriented(2, 1) for ratio in job.parsed_ratios)


class Resume:
    """Which photos of a run are done: ``done(path, plan)`` is their record, or None for a photo
    to crop. ``writer`` is where the crops go (local or a URI): whether a crop file is there,
    whether a name is a source photo (then the photo is not done: it fails), and the temporary
    files a killed run left, removed for a done photo as for one cropped again."""

    def __init__(
        self,
        job: CropJob,
        writer: CropWriter,
        previous: Mapping[str, PhotoRecord] | None = None,
    ) -> None:
        # a sidecar is brought up to date at every run: --xmp photos are not skipped
        self.on = not (job.dry_run or job.overwrite or job.xmp) and _names_known(job)
        self.job, self.writer = job, writer
        self.previous = previous or {}

    def outputs(self, plan: OutputPlan) -> list[str]:
        """Every crop name the job gives the photo (each ratio, ranks 1 to top_k), as
        :meth:`OutputPlan.paths` names them."""
        return [
            os.path.join(plan.folder, output_name(plan.name, label, rank, plan.ext or ""))
            for label in self.job.ratios
            for rank in range(1, self.job.top_k + 1)
        ]

    def _sizes(self, old: PhotoRecord | None) -> dict[str, tuple[int, int]]:
        """The size of each crop the previous record says it wrote (its box, shrunk to fit
        ``--max-size``), by path: the size its file must have to count as done. A crop it found
        already there ("exists") may be of an earlier box: its size is not known."""
        sizes = {}
        for crop in (old or {}).get("crops") or []:
            if not isinstance(crop, dict) or crop.get("status") != "written":
                continue
            box = crop.get("box")
            if isinstance(crop.get("path"), str) and isinstance(box, list) and len(box) == 4:
                try:
                    size = (int(box[2]) - int(box[0]), int(box[3]) - int(box[1]))
                except (TypeError, ValueError, OverflowError):
                    continue
                if size[0] > 0 and size[1] > 0:
                    sizes[crop["path"]] = fit_within(size, self.job.max_size or size)
        return sizes

    def done(self, path: Path | str, plan: OutputPlan) -> tuple[PhotoRecord, int] | None:
        """The record of a photo whose crops are all there, and how many crops it has."""
        if not self.on or plan.ext is None:
            return None
        outs = self.outputs(plan)
        old = self.previous.get(str(path))
        sizes = self._sizes(old)
        if not all(
            not self.writer.is_source(out) and self.writer.is_whole(out, sizes.get(out))
            for out in outs
        ):
            return None
        self.writer.remove_stale_temps(outs)
        if old and old.get("status") == "ok":
            crops = old.get("crops") or []
            if sorted(str(c.get("path")) for c in crops) == sorted(outs):
                return {**old, "crops": [{**c, "status": "exists"} for c in crops]}, len(outs)
        return skipped_record(path, DONE), len(outs)
