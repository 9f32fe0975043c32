"""Writing one analysed photo's crops: into folders this process sees, or (see
:class:`sacrop_cli.io.storage.RemoteWriter`) to a URI; each crop whole or not at all, never
over a source photo, an existing crop kept unless the job says to overwrite it.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from sacrop_cli.errors import OutputError, SacropError
from sacrop_cli.io.atomic import stale_temp_files
from sacrop_cli.io.imageio import Photo, open_photo, save_crop
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.naming import OutputPlan
from sacrop_cli.run.record import PhotoRecord, crop_record, fail
from sacrop_cli.search import Crop

#: Write errors that every later photo would hit too: the run stops instead of failing them all.
_FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


class LocalWriter:
    """Crop files in folders this process sees (local or shared): written through
    :mod:`sacrop_cli.io.atomic`, never over a source photo."""

    def __init__(self, is_source: Callable[[Path | str], bool]) -> None:
        self.is_source = is_source
        self.stale: dict[Path, dict[str, list[Path]]] = {}  # folder -> temps of killed runs

    def remove_stale_temps(self, outs: Iterable[str]) -> None:
        """Delete the temporary files a killed run left for these outputs (one listing per
        folder), so that a rerun leaves exactly what an uninterrupted run would."""
        for out in map(Path, outs):
            if out.parent not in self.stale:
                self.stale[out.parent] = stale_temp_files(out.parent)
            for tmp in self.stale[out.parent].pop(out.name, ()):
                tmp.unlink(missing_ok=True)

    def exists(self, out: str) -> bool:
        return Path(out).exists()

    def save(self, photo: Photo, box: tuple[int, int, int, int], out: str, **options: Any) -> str:
        return str(save_crop(photo, box, Path(out), **options))


class CropWriter(Protocol):
    """Where :func:`finish_photo` writes crops: :class:`LocalWriter`, or
    :class:`sacrop_cli.io.storage.RemoteWriter` for a URI."""

    def remove_stale_temps(self, outs: Iterable[str]) -> None: ...
    def is_source(self, out: str) -> bool: ...
    def exists(self, out: str) -> bool: ...
    def save(
        self, photo: Photo, box: tuple[int, int, int, int], out: str, **options: Any
    ) -> str: ...


def _fatal(err: BaseException) -> str | None:
    """The reason ("No space left on device") when a failed write means that no later crop
    can be written either; None for errors of one photo."""
    cause = err if isinstance(err, OSError) else (err.__cause__ or err.__context__)
    if isinstance(cause, OSError) and cause.errno in _FATAL_ERRNOS:
        return cause.strerror or errno.errorcode.get(cause.errno, "write error")
    return None


def finish_photo(
    record: PhotoRecord,
    crops: Sequence[Crop] | None,
    path: Path,
    plan: OutputPlan,
    writer: CropWriter,
    job: CropJob,
) -> tuple[list[str], str | None]:
    """Write the crops of one analysed photo as ``job`` says; the local run and each Ray
    worker call this for every photo. Returns the photo's warnings and, when a failed write
    means that no later one can succeed either (full disk), why: the run then stops."""
    warnings: list[str] = []
    stop = None
    if crops is not None:
        try:
            _save_photo(record, warnings, path, plan, crops, writer, job)
        except (SacropError, OSError) as err:
            fail(record, path, err)
            for entry in record["crops"]:
                if entry["status"] == "pending":
                    entry["status"] = "failed"
            stop = _fatal(err)
    return warnings, stop


def _save_photo(
    record: PhotoRecord,
    warnings: list[str],
    path: Path,
    plan: OutputPlan,
    crops: Sequence[Crop],
    writer: CropWriter,
    job: CropJob,
) -> None:
    """Fill ``record["crops"]`` and write the crop files of one photo (one full decode);
    the photo's warnings go to ``warnings``."""
    outs = plan.paths(crops, path)
    record["crops"].extend(crop_record(c, "dry-run" if job.dry_run else "pending") for c in crops)
    if job.dry_run:
        return
    writer.remove_stale_temps(outs)
    for entry, out in zip(record["crops"], outs):
        if writer.is_source(out):
            raise OutputError(f"{out}: refusing to overwrite a source photo; choose another --out")
        if writer.exists(out) and not job.overwrite:
            entry["status"], entry["path"] = "exists", out
    todo = [(e, o) for e, o in zip(record["crops"], outs) if e["status"] == "pending"]
    if not todo:
        return  # a rerun: every crop is already there, no need to decode the photo
    bits = 16 if job.format == "tiff" else 8  # a RAW's TIFF crops keep 16 bits
    photo = open_photo(path, max_pixels=job.max_pixels, bits=bits)
    try:
        for entry, out in todo:
            entry["path"] = writer.save(photo, tuple(entry["box"]), out, **job.save_options())
            entry["status"] = "written"
    finally:  # save_crop adds its own warnings (e.g. corrupt EXIF dropped) to the photo's
        warnings.extend(photo.warnings)
