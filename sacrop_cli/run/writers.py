"""Writing one analysed photo's crops: into folders this process sees, or (see
:class:`sacrop_cli.io.storage.RemoteWriter`) to a URI; each crop whole or not at all, never
over a source photo, an existing crop kept unless the job says to overwrite it. With ``--xmp``
the photo's XMP sidecar too, an existing one updated (see :mod:`sacrop_cli.io.xmp`).

Photos are written on worker threads (:class:`DecodeAhead`, :func:`write_ahead`): each
worker decodes a photo at full size, then prepares, encodes and writes its crops, as many photos
at once as fit in :data:`PIXELS_IN_FLIGHT`, while the calling thread scores the next ones (a
local run), reads a manifest (``apply``) or waits. A photo is finished whole by its worker
or not started: a stop (Ctrl-C, a full disk) lets the photos in flight finish and starts no
other, so the photos reported are exactly those whose crops exist; an abort (the second Ctrl-C)
stops every worker after the crop it is writing.
"""

from __future__ import annotations

import errno
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sacrop_cli.engines.base import cpu_cores
from sacrop_cli.errors import OutputError, SacropError
from sacrop_cli.io.atomic import stale_temp_files
from sacrop_cli.io.encode import CropImage, fit_within, prepare_crop, save_crop, write_crop
from sacrop_cli.io.imageio import (
    Photo,
    default_crop,
    is_whole_image,
    open_photo,
    stored_orientation,
)
from sacrop_cli.io.xmp import Region, write_sidecar
from sacrop_cli.record import PhotoRecord, crop_record, fail
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.naming import OutputPlan
from sacrop_cli.run.threads import shut_down
from sacrop_cli.search import Crop

#: Write errors that every later photo would hit too: the run stops instead of failing them all.
_FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
#: Pixels decoded ahead at once (full decodes and their crops; 3 bytes each in RGB): the bound
#: of the writers' memory, whatever the photo count. A photo larger than this is decoded alone.
PIXELS_IN_FLIGHT = 96_000_000


class LocalWriter:
    """Crop files in folders this process sees (local or shared): written through
    :mod:`sacrop_cli.io.atomic`, never over a source photo."""

    def __init__(self, is_source: Callable[[Path | str], bool]) -> None:
        self.is_source = is_source
        self.stale: dict[Path, dict[str, list[Path]]] = {}  # folder -> temps of killed runs
        self.listing = threading.Lock()  # workers list a folder once between them

    def remove_stale_temps(self, outs: Iterable[str]) -> None:
        """Delete the temporary files a killed run left for these outputs (one listing per
        folder), so that a rerun leaves exactly what an uninterrupted run would."""
        for out in map(Path, outs):
            with self.listing:
                if out.parent not in self.stale:
                    self.stale[out.parent] = stale_temp_files(out.parent)
                stale = self.stale[out.parent].pop(out.name, ())
            for tmp in stale:
                tmp.unlink(missing_ok=True)

    def exists(self, out: str) -> bool:
        return Path(out).exists()

    def is_whole(self, out: str, size: tuple[int, int] | None = None) -> bool:
        """Whether ``out`` is a whole crop (of ``size``), not one a killed run or a person
        broke: those are made again."""
        return is_whole_image(out, size)

    def save(self, photo: Photo, box: tuple[int, int, int, int], out: str, **options: Any) -> str:
        return str(save_crop(photo, box, Path(out), **options))

    def write(self, crop: CropImage, out: str, *, overwrite: bool = False) -> str:
        """Encode a crop :class:`DecodeAhead` prepared."""
        return str(write_crop(crop, Path(out), overwrite=overwrite))

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

    def is_whole(self, out: str, size: tuple[int, int] | None = None) -> bool:
        return False

    def save(self, photo: Photo, box: tuple[int, int, int, int], out: str, **options: Any) -> str:
        with tempfile.TemporaryDirectory(prefix="sacrop-") as folder:
            local = save_crop(photo, box, Path(folder) / Path(out).name, **options)
            with open(local, "rb") as encoded:
                shutil.copyfileobj(encoded, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        return "-"

    def write(self, crop: CropImage, out: str, *, overwrite: bool = False) -> str:
        """Encode a crop :class:`DecodeAhead` prepared, then copy it to standard output."""
        with tempfile.TemporaryDirectory(prefix="sacrop-") as folder:
            local = write_crop(crop, Path(folder) / Path(out).name)
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
    def is_whole(self, out: str, size: tuple[int, int] | None = None) -> bool: ...
    def save(
        self, photo: Photo, box: tuple[int, int, int, int], out: str, **options: Any
    ) -> str: ...
    def write(self, crop: CropImage, out: str, *, overwrite: bool = False) -> str: ...
    def write_sidecar(self, out: str, **fields: Any) -> str: ...


def _fatal(err: BaseException) -> str | None:
    """The reason ("No space left on device") when a failed write means that no later crop
    can be written either; None for errors of one photo."""
    cause = err if isinstance(err, OSError) else (err.__cause__ or err.__context__)
    if isinstance(cause, OSError) and cause.errno in _FATAL_ERRNOS:
        return cause.strerror or errno.errorcode.get(cause.errno, "write error")
    return None


def _bits(job: CropJob) -> int:
    """The bits a photo is decoded with: a RAW's TIFF crops keep 16."""
    return 16 if job.format == "tiff" else 8


def _written(job: CropJob, crops: Sequence[Crop]) -> Sequence[Crop]:
    """The crops of a photo that are written as files: none for ``--xmp-only``, the rank-1 crop
    of the first ratio alone for ``-o -``."""
    if job.dry_run or job.xmp_only:
        return []
    return crops[:1] if job.to_stdout else crops


def draft_reduction(boxes: Sequence[Sequence[int]], max_size: tuple[int, int] | None) -> int:
    """How much smaller a photo can be decoded (the ``reduce`` of
    :func:`~sacrop_cli.io.imageio.open_photo`) for these crops of it shrunk to fit ``max_size``:
    8, 4 or 2 when every crop shrinks at least that much, else 1 (full size)."""
    if max_size is None or not boxes:
        return 1
    least = min(
        min((x2 - x1) / w, (y2 - y1) / h)
        for x1, y1, x2, y2 in boxes
        for w, h in [fit_within((x2 - x1, y2 - y1), max_size)]
    )
    return next(f for f in (8, 4, 2, 1) if least >= f)


@dataclass
class Decoded:
    """A photo decoded ahead, each of its crops prepared (or why it could not be), or why the
    photo could not be decoded."""

    photo: Photo | None
    crops: dict[str, CropImage | SacropError | OSError]
    error: SacropError | OSError | None = None


class Aborted(Exception):
    """A worker's photo left after the crop it was writing: the run is aborted."""


class Finishing(Protocol):
    """A photo the workers write (the batch driver's ``PhotoResult``): what :func:`finish_photo`
    reads, where it puts the photo's warnings and ``stop``, and its place among the photos."""

    record: PhotoRecord
    crops: list[Crop] | None
    path: Path
    plan: OutputPlan | None
    warnings: list[str]
    stop: str | None
    position: int


P = TypeVar("P", bound=Finishing)


class DecodeAhead:
    """Worker threads (default: one per core) that each decode a photo and write its crops,
    holding at most :data:`PIXELS_IN_FLIGHT` pixels between them (one photo larger than that
    alone). A photo does not start once ``halted()`` is true (a stop) or :attr:`abort` is set;
    with :attr:`abort` set, a photo under way ends after the crop being written."""

    def __init__(
        self,
        writer: CropWriter,
        job: CropJob,
        threads: int | None = None,
        halted: Callable[[], bool] = lambda: False,
    ) -> None:
        self.writer, self.job, self.halted = writer, job, halted
        self.pool = ThreadPoolExecutor(threads or cpu_cores(), thread_name_prefix="sacrop-write")
        self.in_flight = 0  # the cost of the photos submitted and not yet done
        self.abort = threading.Event()
        self.stop: str | None = None  # a write failed as every later one would: start no other

    def cost(self, record: PhotoRecord, crops: Sequence[Crop] | None) -> int:
        """Pixels a photo holds while decoded ahead: its decode and its crops (after any
        shrink); 0 when there is nothing to decode."""
        if crops is None or not _written(self.job, crops) or not record["width"]:
            return 0
        boxes = [c.box for c in _written(self.job, crops)]
        reduce = draft_reduction(boxes, self.job.max_size)
        shrunk = [
            fit_within((x2 - x1, y2 - y1), self.job.max_size or (x2 - x1, y2 - y1))
            for x1, y1, x2, y2 in boxes
        ]
        return record["width"] * record["height"] // reduce**2 + sum(w * h for w, h in shrunk)

    def fits(self, cost: int) -> bool:
        """Whether a photo of this cost may start now."""
        return self.in_flight == 0 or self.in_flight + cost <= PIXELS_IN_FLIGHT

    def submit(self, photo: P, cost: int) -> Future[P | None]:
        """Write ``photo`` on a worker (its record, warnings and stop filled in there); the
        future's result is None when it did not start (a stop). Call :meth:`done` with
        ``cost`` once it is over."""
        self.in_flight += cost
        return self.pool.submit(self._finish, photo)

    def done(self, cost: int) -> None:
        self.in_flight -= cost

    def _finish(self, photo: P) -> P | None:
        if self.abort.is_set() or self.stop is not None or self.halted():
            return None
        assert photo.plan is not None
        decoded = self._decode(photo.path, photo.plan, photo.crops or [])
        photo.warnings, photo.stop = finish_photo(
            photo.record,
            photo.crops,
            photo.path,
            photo.plan,
            self.writer,
            self.job,
            decoded,
            abort=self.abort,
        )
        self.stop = self.stop or photo.stop
        return photo

    def _decode(self, path: Path, plan: OutputPlan, crops: Sequence[Crop]) -> Decoded | None:
        """None when there is nothing to write (a dry run, or every crop already exists)."""
        job = self.job
        crops = _written(job, crops)
        outs = plan.paths(crops, path)
        if not crops or (not job.overwrite and all(map(self.writer.is_whole, outs))):
            return None
        try:
            photo = open_photo(
                path,
                max_pixels=job.max_pixels,
                bits=_bits(job),
                reduce=draft_reduction([c.box for c in crops], job.max_size),
            )
        except (SacropError, OSError) as err:
            return Decoded(None, {}, err)
        options = {k: v for k, v in job.save_options().items() if k != "overwrite"}
        prepared: dict[str, CropImage | SacropError | OSError] = {}
        for crop, out in zip(crops, outs):
            try:
                prepared[out] = prepare_crop(photo, crop.box, out, **options)
            except (SacropError, OSError) as err:
                prepared[out] = err
        return Decoded(photo, prepared)


def write_ahead(
    decoder: DecodeAhead, photos: Iterable[P], stopping: Callable[[], bool]
) -> Iterator[list[P]]:
    """The crops of ``photos`` written by ``decoder``'s workers; yields the photos finished, a
    few at a time, in any order (those with nothing to write, failed or a dry run, at once).

    Polls ``stopping()`` between photos: once true, no other photo starts, those in flight
    finish and are yielded, and it ends. Closed early (an error, the second Ctrl-C), it sets
    ``decoder.abort`` and waits for the workers, which stop after the crop they are writing.
    """
    running: dict[Future[P | None], int] = {}

    def finished(block: bool) -> list[P]:
        if not running:
            return []
        done, _ = wait(running, timeout=None if block else 0, return_when=FIRST_COMPLETED)
        out = []
        for future in done:
            decoder.done(running.pop(future))
            if future.cancelled() or (photo := future.result()) is None:
                stopping()  # not started: a stop was asked, and is recorded now
            else:
                out.append(photo)
        return out

    try:
        for photo in photos:
            if stopping() or decoder.stop is not None:
                break
            if photo.crops is None or decoder.job.dry_run:  # nothing to decode or write
                if photo.plan is not None:  # (no plan: it failed before one was made)
                    photo.warnings, photo.stop = finish_photo(
                        photo.record,
                        photo.crops,
                        photo.path,
                        photo.plan,
                        decoder.writer,
                        decoder.job,
                    )
                yield [photo]
                continue
            cost = decoder.cost(photo.record, photo.crops)
            while running and not decoder.fits(cost) and not stopping():
                if ready := finished(block=True):
                    yield ready
            if stopping() or decoder.stop is not None:
                break
            running[decoder.submit(photo, cost)] = cost
            if ready := finished(block=False):
                yield ready
        while running:  # the end, or a stop: the photos in flight finish
            if ready := finished(block=True):
                yield ready
    finally:
        decoder.abort.set()  # an early close: the workers stop after their current crop
        shut_down((decoder.pool,), list(running))


def finish_photo(
    record: PhotoRecord,
    crops: Sequence[Crop] | None,
    path: Path,
    plan: OutputPlan,
    writer: CropWriter,
    job: CropJob,
    decoded: Decoded | None = None,
    abort: threading.Event | None = None,
) -> tuple[list[str], str | None]:
    """Write the crops of one analysed photo as ``job`` says; :class:`DecodeAhead`'s workers
    call this for every photo, with the photo ``decoded`` (its crops are written with
    ``writer.write``). Returns the photo's warnings and, when a failed write means that no later
    one can succeed either (full disk), why: the run then stops. Raises :class:`Aborted`
    before a crop once ``abort`` is set."""
    warnings: list[str] = []
    stop = None
    record["folder"] = plan.sub
    if crops is not None:
        try:
            _save_photo(record, warnings, path, plan, crops, writer, job, decoded, abort)
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
    decoded: Decoded | None = None,
    abort: threading.Event | None = None,
) -> None:
    """Fill ``record["crops"]`` and write the crop files of one photo (one full decode, or the
    one done ahead) and its sidecar, as the job says; the photo's warnings go to ``warnings``."""
    if job.to_stdout:
        crops = crops[:1]  # the rank-1 crop of the first ratio
    status = "dry-run" if job.dry_run else "sidecar" if job.xmp_only else "pending"
    record["crops"].extend(crop_record(c, status) for c in crops)
    if job.dry_run:
        return
    if not job.xmp_only:
        _save_crops(record, warnings, path, plan.paths(crops, path), writer, job, decoded, abort)
    if abort is not None and abort.is_set():
        raise Aborted
    if job.xmp:
        out = plan.sidecar(job.xmp_name)
        record["sidecar"] = _save_sidecar(record, path, out, crops, writer)


def _save_crops(
    record: PhotoRecord,
    warnings: list[str],
    path: Path,
    outs: list[str],
    writer: CropWriter,
    job: CropJob,
    decoded: Decoded | None = None,
    abort: threading.Event | None = None,
) -> None:
    writer.remove_stale_temps(outs)
    broken = set()  # crops there but not whole: made again, as a killed run's temporary files
    for entry, out in zip(record["crops"], outs):
        if writer.is_source(out):
            raise OutputError(f"{out}: refusing to overwrite a source photo; choose another --out")
        if writer.exists(out) and not job.overwrite:
            if writer.is_whole(out):
                entry["status"], entry["path"] = "exists", out
            else:
                broken.add(out)
    todo = [(e, o) for e, o in zip(record["crops"], outs) if e["status"] == "pending"]
    if not todo:
        return  # a rerun: every crop is already there, no need to decode the photo
    if decoded is not None and decoded.error is not None:
        raise decoded.error
    if decoded is not None and decoded.photo is not None:
        photo = decoded.photo
    else:
        photo = open_photo(path, max_pixels=job.max_pixels, bits=_bits(job))
    try:
        for entry, out in todo:
            if abort is not None and abort.is_set():
                raise Aborted
            ready = decoded.crops.get(out) if decoded is not None else None
            if isinstance(ready, (SacropError, OSError)):
                raise ready
            again = out in broken or job.overwrite
            if ready is None:
                options = {**job.save_options(), "overwrite": again}
                entry["path"] = writer.save(photo, tuple(entry["box"]), out, **options)
            else:
                entry["path"] = writer.write(ready, out, overwrite=again)
            entry["status"] = "written"
    finally:  # save_crop adds its own warnings (e.g. corrupt EXIF dropped) to the photo's
        warnings.extend(photo.warnings)


def _save_sidecar(
    record: PhotoRecord, path: Path, out: str, crops: Sequence[Crop], writer: CropWriter
) -> str:
    """Write or update the photo's sidecar: the first crop (rank 1 of the first ratio) as the
    Camera Raw crop, every crop as a region. The EXIF orientation and a DNG's DefaultCrop,
    which the Camera Raw crop's frame depends on, are read from the header: no decode."""
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
        inset=default_crop(path),
    )
