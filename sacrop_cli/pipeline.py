"""The batch pipeline behind ``sacrop crop``: many photos in, crop files and a manifest out.

Per photo: a reduced decode for the network, scoring in batches of ``batch_size`` photos, then
(unless ``dry_run``) one full decode from which every chosen crop is saved. The three overlap:
while the calling thread decodes and writes the photos of one batch, a network thread scores the
next and a small thread pool decodes the reduced images of the one after (see
:func:`_scored_ahead`); records and progress still come in input order, photo by photo. A photo
that fails becomes an ``"error"`` record and the batch goes on; memory stays flat because at most
three batches are in flight and images are dropped as soon as their batch is done.

Output layout: ``out_dir / <folder relative to the input root> / <stem>.<ratio>.<rank>.<ext>``;
photos given directly (not found in a folder) go to the top of ``out_dir``, which defaults to
``./crops``.

A run stops early, leaving no photo half-done, when ``should_stop()`` turns true (Ctrl-C in the
CLI) or a write fails in a way every later photo would too (full disk, read-only file system):
the photos done so far are reported, the others counted as ``not_processed``; a rerun skips
the crops already written and finishes the rest.

Manifest record, one per processed input (missing and skipped paths included)::

    {"source": str, "width": W | None, "height": H | None,   # upright size
     "status": "ok" | "error" | "skipped", "error": None | one-line message (why, if skipped),
     "faces": [[x1, y1, x2, y2, score], ...] | None (not looked for, or not analysed),
     "crops": [{"ratio": "4:3", "rank": 1, "box": [x1, y1, x2, y2], "score": float (4 places),
                "note": None | why a face rule could not be met (see ``constraints``),
                "path": str | None, "status": "written" | "exists" | "dry-run" | "failed"}]}
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from sacrop_cli.errors import OutputError, SacropError
from sacrop_cli.faces import face_list
from sacrop_cli.ratios import Ratio
from sacrop_cli.storage import is_uri, join

if TYPE_CHECKING:
    from sacrop_cli.api import Analysis, Crop, Cropper
    from sacrop_cli.imageio import Photo
    from sacrop_cli.inputs import InputScan

DEFAULT_OUT_DIR = Path("crops")
#: ``--format`` value -> file extension of the crops.
FORMAT_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "tiff": ".tif"}
#: Write errors that every later photo would hit too: the run stops instead of failing them all.
_FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})

#: Called after each photo with its manifest record and its warnings.
ProgressCallback = Callable[[dict[str, Any], list[str]], None]


@dataclass
class BatchReport:
    """Manifest records (one per input, in input order), counts and warnings of a run."""

    records: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, float] = field(
        default_factory=lambda: {
            "images": 0,
            "ok": 0,
            "errors": 0,
            "missing": 0,
            "crops": 0,
            "crops_written": 0,
            "crops_existing": 0,
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

    def count_unprocessed(self, record: dict[str, Any]) -> None:
        """Count the record of a missing path or a skipped file (see :func:`split_inputs`)."""
        self.counts["missing" if record["status"] == "error" else "skipped_files"] += 1

    def count_photo(self, record: dict[str, Any]) -> None:
        """Count the record of a photo that was processed, from what it says."""
        statuses = [entry["status"] for entry in record["crops"]]
        self.counts["images"] += 1
        self.counts["ok" if record["status"] == "ok" else "errors"] += 1
        self.counts["crops"] += len(statuses)
        self.counts["crops_written"] += statuses.count("written")
        self.counts["crops_existing"] += statuses.count("exists")

    @property
    def failed(self) -> bool:
        """True when any photo failed or a given path did not exist (exit status 1)."""
        return bool(self.counts["errors"] or self.counts["missing"])


def _record(path: Path | str, size: tuple[int, int] | None = None) -> dict[str, Any]:
    return {
        "source": str(path),
        "width": size[0] if size else None,
        "height": size[1] if size else None,
        "status": "ok",
        "error": None,
        "faces": None,
        "crops": [],
    }


def _fail(record: dict[str, Any], path: Path | str, err: BaseException) -> None:
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, OSError) and err.strerror:  # "[Errno 13] ..." -> "path: Permission denied"
        message = f"{err.filename or path}: {err.strerror}"
    if str(path) not in message:
        message = f"{path}: {message}"
    record["status"], record["error"] = "error", message


@dataclass(frozen=True)
class OutputPlan:
    """Where one photo's crops go, decided from its path alone, before it is analysed, so that
    a worker elsewhere can name them as this run would: ``folder/<stem of name>.<ratio>.<rank>
    <ext>``. ``ext`` is None when only the photo's content tells it (a URI with no known
    extension)."""

    folder: str
    name: str
    ext: str | None

    def paths(self, crops: Sequence[Crop], read_from: Path) -> list[str]:
        """One path per crop; ``read_from`` is the file the photo is read from."""
        from sacrop_cli.imageio import crop_extension, output_name

        ext = self.ext or crop_extension(read_from)
        return [
            os.path.join(self.folder, output_name(self.name, c.ratio, c.rank, ext)) for c in crops
        ]


class Namer:
    """Output plans for each photo, with ``-2``, ``-3``... when two photos would share a name."""

    def __init__(self, out_dir: Path | str, fmt: str | None, sources: Iterable[Path | str]) -> None:
        self.out_dir, self.fmt = out_dir, fmt
        self.claimed: set[tuple[str, str, str | None]] = set()
        self.source_paths: set[Path] = set()
        self.source_ids: set[tuple[int, int]] = set()
        self.by_folder: dict[str, list[str]] = {}  # resolved folder -> its sources, resolved
        self.resolved: dict[str, str] = {}  # output folder -> resolved
        for src in sources:
            if is_uri(src):
                self.by_folder.setdefault(os.path.dirname(src), []).append(src)
                continue
            resolved = Path(src).resolve()
            self.source_paths.add(resolved)
            self.by_folder.setdefault(str(resolved.parent), []).append(str(resolved))
            try:
                st = Path(src).stat()
                self.source_ids.add((st.st_dev, st.st_ino))
            except OSError:
                pass

    def extension(self, src: Path | str) -> str | None:
        if self.fmt:
            return FORMAT_EXTENSIONS[self.fmt]
        from sacrop_cli.imageio import crop_extension, known_crop_extension

        return known_crop_extension(src) if is_uri(src) else crop_extension(src)

    def plan(self, src: Path | str, root: Path | str | None) -> OutputPlan:
        """The photo's plan; two photos never get the same folder, stem and extension."""
        src_path = PurePosixPath(str(src))  # URIs too: the same parts as their paths
        folder = join(self.out_dir, src_path.parent.relative_to(str(root)) if root else ".")
        ext = self.extension(src)
        n = 1
        while True:
            name = src_path.name if n == 1 else f"{src_path.stem}-{n}{src_path.suffix}"
            key = (folder, PurePosixPath(name).stem, ext)
            if key not in self.claimed:
                self.claimed.add(key)
                return OutputPlan(folder, name, ext)
            n += 1

    def sources_in_the_way(self, plan: OutputPlan) -> list[str]:
        """The sources (resolved) that could bear the name of one of the plan's crops: all that a
        worker seeing only this photo needs to never write over a source."""
        folder = plan.folder
        if not is_uri(folder):
            if folder not in self.resolved:
                self.resolved[folder] = str(Path(folder).resolve())
            folder = self.resolved[folder]
        stem = PurePosixPath(plan.name).stem + "."
        return [
            src
            for src in self.by_folder.get(folder, ())
            if os.path.basename(src).startswith(stem) and src.endswith(plan.ext or "")
        ]

    def is_source(self, out: Path | str) -> bool:
        out = Path(out)
        if out.resolve() in self.source_paths:
            return True
        try:
            st = out.stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self.source_ids


class LocalWriter:
    """Crop files in folders this process sees (local or shared): written through
    :mod:`sacrop_cli.atomic`, never over a source photo."""

    def __init__(self, is_source: Callable[[Path | str], bool]) -> None:
        self.is_source = is_source
        self.stale: dict[Path, dict[str, list[Path]]] = {}  # folder -> temps of killed runs

    def remove_stale_temps(self, outs: Iterable[str]) -> None:
        """Delete the temporary files a killed run left for these outputs (one listing per
        folder), so that a rerun leaves exactly what an uninterrupted run would."""
        from sacrop_cli.atomic import stale_temp_files

        for out in map(Path, outs):
            if out.parent not in self.stale:
                self.stale[out.parent] = stale_temp_files(out.parent)
            for tmp in self.stale[out.parent].pop(out.name, ()):
                tmp.unlink(missing_ok=True)

    def exists(self, out: str) -> bool:
        return Path(out).exists()

    def save(self, photo: Photo, box: tuple[int, int, int, int], out: str, **options: Any) -> str:
        from sacrop_cli.imageio import save_crop

        return str(save_crop(photo, box, Path(out), **options))


class CropWriter(Protocol):
    """Where :func:`finish_photo` writes crops: :class:`LocalWriter`, or
    :class:`sacrop_cli.storage.RemoteWriter` for a URI."""

    def remove_stale_temps(self, outs: Iterable[str]) -> None: ...
    def is_source(self, out: str) -> bool: ...
    def exists(self, out: str) -> bool: ...
    def save(
        self, photo: Photo, box: tuple[int, int, int, int], out: str, **options: Any
    ) -> str: ...


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


def _fatal(err: BaseException) -> str | None:
    """The reason ("No space left on device") when a failed write means that no later crop
    can be written either; None for errors of one photo."""
    cause = err if isinstance(err, OSError) else (err.__cause__ or err.__context__)
    if isinstance(cause, OSError) and cause.errno in _FATAL_ERRNOS:
        return cause.strerror or errno.errorcode.get(cause.errno, "write error")
    return None


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


#: Threads decoding the reduced images of the next batch while the network scores this one.
_DECODE_THREADS = 2


def analyse(cropper: Cropper, path: Path, max_pixels: int) -> Analysis | SacropError | OSError:
    """The reduced image of one photo with its faces found, already at the network's input
    size (so a decoding thread does this work, not the network's), or why it cannot be read."""
    from sacrop_cli.imageio import open_for_analysis

    try:
        image, full = open_for_analysis(
            path, cropper.input_spec["short_side"], max_pixels=max_pixels
        )
    except (SacropError, OSError) as err:
        return err
    return cropper.analyse(image, full, resize=True)


def score_batch(
    cropper: Cropper,
    paths: Sequence[Path],
    loaded: Sequence[Analysis | SacropError | OSError],
    ratios: Sequence[str | Ratio],
    top_k: int,
    orient: bool = False,
) -> tuple[list[dict[str, Any]], list[list[Crop] | None]]:
    """One network pass over the photos :func:`analyse` could read: per photo its record (upright
    size, or why it failed) and its crops (None when it failed)."""
    from sacrop_cli.api import Analysis

    records = [_record(path) for path in paths]
    analyses: dict[int, Analysis] = {}
    for i, (path, result) in enumerate(zip(paths, loaded)):
        if isinstance(result, Analysis):
            analyses[i] = result
            records[i]["width"], records[i]["height"] = result.full_size
            if result.faces is not None:
                records[i]["faces"] = face_list(result.faces)
        else:
            _fail(records[i], path, result)
    crops: list[list[Crop] | None] = [None] * len(paths)
    try:
        found = (
            cropper.best_crops(list(analyses.values()), ratios, top_k, orient=orient)
            if analyses
            else []
        )
    except (SacropError, OSError) as err:
        for i in analyses:
            _fail(records[i], paths[i], err)
        found = []
    for i, photo_crops in zip(analyses, found):
        crops[i] = photo_crops
    return records, crops


@dataclass
class _Scored:
    """A batch after the network: :func:`score_batch`'s records and crops."""

    photos: list[tuple[Path, OutputPlan]]
    records: list[dict[str, Any]]
    crops: list[list[Crop] | None]
    seconds: float  # the reduced decodes the network waited for, plus its pass


def _scored_ahead(
    cropper: Cropper,
    batches: list[list[tuple[Path, OutputPlan]]],
    ratios: Sequence[str | Ratio],
    top_k: int,
    max_pixels: int,
    workers: int = 1,
    orient: bool = False,
) -> Iterator[_Scored]:
    """The batches, scored, in order, computed ahead of the caller in worker threads.

    While the caller writes the crops of batch n, ``workers`` network threads score the next
    batches and a small pool decodes the reduced images of the one after (Pillow and torch
    release the GIL), so neither the network nor the writes wait for the other; no more is kept
    in memory. Closing the generator (a stop, an error, Ctrl-C) cancels what has not started and
    waits for the batches being scored.
    """

    def score(
        batch: list[tuple[Path, OutputPlan]],
        loading: list[Future[Analysis | SacropError | OSError]],
    ) -> _Scored:
        start = time.perf_counter()
        loaded = [future.result() for future in loading]
        paths = [path for path, _ in batch]
        records, crops = score_batch(cropper, paths, loaded, ratios, top_k, orient)
        return _Scored(batch, records, crops, time.perf_counter() - start)

    decoder = ThreadPoolExecutor(_DECODE_THREADS, thread_name_prefix="sacrop-decode")
    network = ThreadPoolExecutor(workers, thread_name_prefix="sacrop-network")

    submitted: list[Future[Any]] = []  # those not known to be done, for the shutdown

    def schedule(n: int) -> Future[_Scored]:
        """Batch n's reduced decodes start now, its scoring once the network is free."""
        submitted[:] = [f for f in submitted if not f.done()]  # done ones hold images: let go
        loading = [decoder.submit(analyse, cropper, path, max_pixels) for path, _ in batches[n]]
        submitted.extend(loading)
        submitted.append(network.submit(score, batches[n], loading))
        return submitted[-1]

    ahead = workers + 1
    pending = deque(schedule(n) for n in range(min(ahead, len(batches))))
    try:
        for n in range(len(batches)):
            scored = pending.popleft().result()
            if n + ahead < len(batches):
                pending.append(schedule(n + ahead))
            yield scored
    finally:
        _shut_down((decoder, network), submitted)


def _shut_down(pools: Sequence[ThreadPoolExecutor], submitted: Sequence[Future[Any]]) -> None:
    """Cancel the work that has not started and wait for what has, even through Ctrl-C.

    A decode or a network pass cannot be interrupted, and a process that exits while one runs in
    another thread is killed by the C++ runtime underneath (status 134, "terminate called
    without an active exception"). So a KeyboardInterrupt arriving while we wait (the second
    Ctrl-C) is held until every started task has returned, then raised. Waiting is on the
    tasks' futures, not on ``Thread.join``: a join cut short by Ctrl-C can report a thread
    finished while it still runs; and polled, since ``concurrent.futures.wait`` never returns
    for a future cancelled while still queued.
    """
    interrupted = False
    while True:
        try:  # all of it again after a Ctrl-C: it may have cut any step short
            for pool in pools:
                pool.shutdown(wait=False, cancel_futures=True)
            for future in submitted:
                future.cancel()  # those not started; a running one carries on
            # polled, not futures.wait: that never returns for a future cancelled in a queue
            while not all(future.done() for future in submitted):
                time.sleep(0.01)
            for pool in pools:  # nothing left to run: the threads end at once
                pool.shutdown(wait=True)
            break
        except KeyboardInterrupt:
            interrupted = True
    if interrupted:
        raise KeyboardInterrupt


def run_batch(
    cropper: Cropper,
    inputs: InputScan,
    ratios: Sequence[str | Ratio],
    top_k: int,
    out_dir: Path | None,
    *,
    dry_run: bool = False,
    overwrite: bool = False,
    format: str | None = None,  # noqa: A002 - the CLI option's name
    quality: int = 95,
    max_size: tuple[int, int] | None = None,
    max_pixels: int | None = None,
    batch_size: int = 8,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    orient: bool = False,
) -> BatchReport:
    """Crop every photo of ``inputs`` and save the crops under ``out_dir`` (default ``./crops``).

    ``format`` is ``jpeg``/``png``/``webp``/``tiff`` or None to keep each photo's own format
    (PNG for GIFs). An existing crop file is left alone (counted as ``crops_existing``) unless
    ``overwrite``; a source photo is never written to, even with ``overwrite``.
    ``should_stop`` is polled between photos: once true, the run ends after the current photo
    (``report.stopped == "interrupted"``). ``orient`` turns fixed ratios to each photo's
    orientation. Raises OutputError when ``out_dir`` is unusable.
    """
    from sacrop_cli.imageio import DEFAULT_MAX_PIXELS

    start = time.perf_counter()
    max_pixels = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if format is not None and format not in FORMAT_EXTENSIONS:
        raise ValueError(f"format must be one of {sorted(FORMAT_EXTENSIONS)}, not {format!r}")
    out_dir = Path(out_dir) if out_dir is not None else DEFAULT_OUT_DIR
    report, images, emit = start_run(inputs, out_dir, dry_run, on_progress)
    namer = Namer(out_dir, format, (p for p, _ in images))
    planned = [(path, namer.plan(path, root)) for path, root in images]
    writer = LocalWriter(namer.is_source)

    def stop_now() -> bool:
        if report.stopped is None and should_stop is not None and should_stop():
            report.stopped = "interrupted"
        return report.stopped is not None

    batches = [planned[i : i + batch_size] for i in range(0, len(planned), batch_size)]
    with (
        cropper.engine.workers() as workers,
        contextlib.closing(
            _scored_ahead(cropper, batches, ratios, top_k, max_pixels, workers, orient)
        ) as ahead,
    ):
        for scored in ahead:
            report.batch_seconds.append((len(scored.photos), scored.seconds))
            for (path, plan), record, crops in zip(scored.photos, scored.records, scored.crops):
                if stop_now():
                    break  # nothing of this photo is written yet: a rerun does it
                warnings, report.stopped = finish_photo(
                    record,
                    crops,
                    path,
                    plan,
                    writer,
                    dry_run=dry_run,
                    overwrite=overwrite,
                    fmt=format,
                    quality=quality,
                    max_size=max_size,
                    max_pixels=max_pixels,
                )
                report.count_photo(record)
                emit(record, warnings)
            if report.stopped:
                break

    report.counts["not_processed"] = len(images) - report.counts["images"]
    report.counts["seconds"] = round(time.perf_counter() - start, 3)
    return report


def start_run(
    inputs: InputScan, out_dir: Path | str, dry_run: bool, on_progress: ProgressCallback | None
) -> tuple[BatchReport, list[tuple[Path, Path | None]], ProgressCallback]:
    """What a run does first, local or on Ray: check the output folder (or URI) once, when
    there is a photo to write, and report the inputs that are not photos to crop. Returns the
    report, the photos to crop, and ``emit(record, warnings)``, which adds a record to the
    report and shows it."""
    report = BatchReport()
    images, unprocessed, warnings = split_inputs(inputs, out_dir)
    report.warnings.extend(warnings)
    if images and not dry_run and is_uri(out_dir):
        from sacrop_cli.storage import check_out_uri

        check_out_uri(str(out_dir))
    elif images and not dry_run:
        _check_out_dir(Path(out_dir))

    def emit(record: dict[str, Any], warnings: list[str]) -> None:
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
) -> tuple[list[tuple[Path, Path | None]], list[dict[str, Any]], list[str]]:
    """The photos to crop; the records of the inputs that are not (missing paths, skipped
    files, photos inside the output folder), in that order; and a warning about the last."""
    out_resolved = out_dir if is_uri(out_dir) else Path(out_dir).resolve()
    images = [(p, r) for p, r in inputs.images if not _in_output_folder(p, r, out_resolved)]
    inside = [p for p, r in inputs.images if _in_output_folder(p, r, out_resolved)]
    warnings = (
        [f"skipped {len(inside)} photo(s) inside the output folder {out_dir}"] if inside else []
    )
    records = [
        {**_record(missing), "status": "error", "error": f"{missing}: no such file or folder"}
        for missing in inputs.missing
    ]
    for path, reason in [
        *((p, _skip_reason(p)) for p in inputs.skipped),
        *((p, "inside the output folder (the crops of an earlier run)") for p in inside),
    ]:
        records.append(skipped_record(path, reason))
    return images, records, warnings


def skipped_record(source: Path | str, reason: str) -> dict[str, Any]:
    return {**_record(source), "status": "skipped", "error": f"{source}: skipped: {reason}"}


def finish_photo(
    record: dict[str, Any],
    crops: Sequence[Crop] | None,
    path: Path,
    plan: OutputPlan,
    writer: CropWriter,
    **options: Any,
) -> tuple[list[str], str | None]:
    """Write the crops of one analysed photo (see :func:`_save_photo` for ``options``); the
    local run and each Ray worker call this for every photo. Returns the photo's warnings and,
    when a failed write means that no later one can succeed either (full disk), why: the run
    then stops."""
    warnings: list[str] = []
    stop = None
    if crops is not None:
        try:
            _save_photo(record, warnings, path, plan, crops, writer, **options)
        except (SacropError, OSError) as err:
            _fail(record, path, err)
            for entry in record["crops"]:
                if entry["status"] == "pending":
                    entry["status"] = "failed"
            stop = _fatal(err)
    return warnings, stop


def _save_photo(
    record: dict[str, Any],
    warnings: list[str],
    path: Path,
    plan: OutputPlan,
    crops: Sequence[Crop],
    writer: CropWriter,
    *,
    dry_run: bool,
    overwrite: bool,
    fmt: str | None,
    quality: int,
    max_size: tuple[int, int] | None,
    max_pixels: int,
) -> None:
    """Fill ``record["crops"]`` and write the crop files of one photo (one full decode);
    the photo's warnings go to ``warnings``."""
    from sacrop_cli.imageio import open_photo

    outs = plan.paths(crops, path)
    for crop in crops:
        record["crops"].append(
            {
                "ratio": crop.ratio,
                "rank": crop.rank,
                "box": list(crop.box),
                "score": round(crop.score, 4),
                "note": crop.note,
                "path": None,
                "status": "dry-run" if dry_run else "pending",
            }
        )
    if dry_run:
        return
    writer.remove_stale_temps(outs)
    for entry, out in zip(record["crops"], outs):
        if writer.is_source(out):
            raise OutputError(f"{out}: refusing to overwrite a source photo; choose another --out")
        if writer.exists(out) and not overwrite:
            entry["status"], entry["path"] = "exists", out
    todo = [(e, o) for e, o in zip(record["crops"], outs) if e["status"] == "pending"]
    if not todo:
        return  # a rerun: every crop is already there, no need to decode the photo
    photo = open_photo(path, max_pixels=max_pixels)
    try:
        for entry, out in todo:
            entry["path"] = writer.save(
                photo,
                tuple(entry["box"]),
                out,
                format=fmt,
                quality=quality,
                max_size=max_size,
                overwrite=overwrite,
            )
            entry["status"] = "written"
    finally:  # save_crop adds its own warnings (e.g. corrupt EXIF dropped) to the photo's
        warnings.extend(photo.warnings)
