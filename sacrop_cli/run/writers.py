"""Writing one analysed photo's crops: into folders this process sees, or (see
:class:`sacrop_cli.io.storage.RemoteWriter`) to a URI; each crop whole or not at all, never
over a source photo, an existing crop kept unless the job says to overwrite it. With ``--xmp``
the photo's XMP sidecar too, an existing one updated (see :mod:`sacrop_cli.io.xmp`).
"""

from __future__ import annotations

import errno
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from sacrop_cli.errors import OutputError, SacropError
from sacrop_cli.io.atomic import stale_temp_files
from sacrop_cli.io.imageio import Photo, open_photo, stored_orientation
from sacrop_cli.io.encode import save_crop
from sacrop_cli.io.xmp import Region, write_sidecar
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

    def write_sidecar(self, out: str, **fields: Any) -> str:
        return str(write_sidecar(Path(out), **fields))


class StreamWriter:
    """The one crop of ``-o -`` (see :attr:`CropJob.to_stdout`): encoded as a crop file is, with
    the name's format, then copied to standard output."""

    def remove_stale_temps(self, outs: Iterable[str]) -> None:
        pass

    def is_source(self, out: str) -> bool:
        return False

    def exists(self, out: str) -> bool:
        return False

    def save(self, photo: Photo, box: tuple[int, int, int, int], out: str, **options: Any) -> str:
        with tempfile.TemporaryDirectory(prefix="sacrop-") as folder:
            local = save_crop(photo, box, Path(folder) / Path(out).name, **options)
            with open(local, "rb") as encoded:
                shutil.copyfileobj(encoded, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        return "-"

    def write_sidecar(self, out: str, **fields: Any) -> str:
        raise OutputError("-: no sidecar goes to standard output")


class CropWriter(Protocol):
    """Where :func:`finish_photo` writes crops: :class:`LocalWriter`,
    :class:`sacrop_cli.io.storage.RemoteWriter` for a URI, or :class:`StreamWriter`."""

    def remove_stale_temps(self, outs: Iterable[str]) -> None: ...
    def is_source(self, out: str) -> bool: ...
    def exists(self, out: str) -> bool: ...
    def save(
        self, photo: Photo, box: tuple[int, int, int, int], out: str, **options: Any
    ) -> str: ...
    def write_sidecar(self, out: str, **fields: Any) -> str: ...


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
    """Fill ``record["crops"]`` and write the crop files of one photo (one full decode) and
    its sidecar, as the job says; the photo's warnings go to ``warnings``."""
    if job.to_stdout:
        crops = crops[:1]  # the rank-1 crop of the first ratio
    status = "dry-run" if job.dry_run else "sidecar" if job.xmp_only else "pending"
    record["crops"].extend(crop_record(c, status) for c in crops)
    if job.dry_run:
        return
    if not job.xmp_only:
        _save_crops(record, warnings, path, plan.paths(crops, path), writer, job)
    if job.xmp:
        record["sidecar"] = _save_sidecar(record, path, plan.sidecar(), crops, writer)


def _save_crops(
    record: PhotoRecord,
    warnings: list[str],
    path: Path,
    outs: list[str],
    writer: CropWriter,
    job: CropJob,
) -> None:
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


def _save_sidecar(
    record: PhotoRecord, path: Path, out: str, crops: Sequence[Crop], writer: CropWriter
) -> str:
    """Write or update the photo's sidecar: the first crop (rank 1 of the first ratio) as the
    Camera Raw crop, every crop as a region. The EXIF orientation, which the Camera Raw crop's
    frame depends on, is read from the header: no decode."""
    if writer.is_source(out):
        raise OutputError(f"{out}: refusing to overwrite a source photo; choose another --out")
    writer.remove_stale_temps([out])
    regions = [Region(c.ratio, c.rank, c.box, c.score) for c in crops]
    return writer.write_sidecar(
        out,
        size=(record["width"], record["height"]),
        orientation=stored_orientation(path),
        develop_crop=regions[0].box if regions else None,
        regions=regions,
    )
