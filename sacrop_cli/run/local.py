"""The batch behind ``sacrop crop``: many photos in, crop files and a manifest out.

Per photo: a reduced decode for the network, scoring in batches of the job's ``batch_size``
photos, then (unless a dry run) one full decode from which every chosen crop is saved. All of it
overlaps: network threads score the next batches while a small thread pool decodes the reduced
images of the one after (see :func:`_scored_ahead`), worker threads decode the scored photos at
full size and prepare their crops (:class:`~sacrop_cli.run.writers.DecodeAhead`), and the
calling thread encodes and writes them; records and progress still come in input order, photo
by photo. A photo that fails becomes an ``"error"`` record (see :mod:`sacrop_cli.run.record`)
and the batch goes on; memory stays flat because at most a few batches are scored ahead, the
full decodes ahead are bounded by their pixels, and images are dropped once written.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sacrop_cli.api import Analysis, Cropper
from sacrop_cli.errors import SacropError
from sacrop_cli.faces import face_list
from sacrop_cli.io.imageio import open_for_analysis
from sacrop_cli.io.inputs import InputScan
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.naming import Namer, OutputPlan
from sacrop_cli.run.record import PhotoRecord, fail, new_record
from sacrop_cli.run.report import BatchReport, ProgressCallback, start_run
from sacrop_cli.run.resume import Resume
from sacrop_cli.run.writers import DecodeAhead, Decoded, LocalWriter, StreamWriter, finish_photo
from sacrop_cli.search import Crop

#: Threads decoding the reduced images of the next batch while the network scores this one.
_DECODE_THREADS = 2
#: The decode ahead of a photo with nothing to decode (it failed before).
_DONE: Future[None] = Future()
_DONE.set_result(None)


def analyse(cropper: Cropper, path: Path, max_pixels: int) -> Analysis | SacropError | OSError:
    """The reduced image of one photo with its faces found, already at the network's input
    size (so a decoding thread does this work, not the network's), or why it cannot be read."""
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
    job: CropJob,
    sources: Sequence[str] | None = None,
) -> tuple[list[PhotoRecord], list[list[Crop] | None]]:
    """One network pass over the photos :func:`analyse` could read: per photo its record (upright
    size, or why it failed) and its crops (None when it failed). ``sources`` are the photos as
    given, when ``paths`` are copies (Ray): their hints are looked up by them."""
    records = [new_record(path) for path in paths]
    analyses: dict[int, Analysis] = {}
    hints = [job.hints_for(s) for s in (sources if sources is not None else paths)]
    for i, (path, result) in enumerate(zip(paths, loaded)):
        if isinstance(result, Analysis):
            records[i]["width"], records[i]["height"] = result.full_size
            if result.faces is not None:
                records[i]["faces"] = face_list(result.faces)
            try:
                hints[i].in_pixels(*result.full_size)
            except ValueError as err:  # a hint outside this photo: the photo fails, not the batch
                fail(records[i], path, SacropError(f"{path}: {err}"))
                continue
            analyses[i] = result
        else:
            fail(records[i], path, result)
    crops: list[list[Crop] | None] = [None] * len(paths)
    try:
        found = (
            cropper.best_crops(
                list(analyses.values()),
                job.ratios,
                job.top_k,
                orient=job.orient,
                hints=[hints[i] for i in analyses],
            )
            if analyses
            else []
        )
    except (SacropError, OSError) as err:
        for i in analyses:
            fail(records[i], paths[i], err)
        found = []
    for i, photo_crops in zip(analyses, found):
        crops[i] = photo_crops
    return records, crops


@dataclass
class _Scored:
    """A batch after the network: :func:`score_batch`'s records and crops."""

    photos: list[tuple[Path, OutputPlan]]
    records: list[PhotoRecord]
    crops: list[list[Crop] | None]
    seconds: float  # the reduced decodes the network waited for, plus its pass


def _scored_ahead(
    cropper: Cropper,
    batches: list[list[tuple[Path, OutputPlan]]],
    job: CropJob,
    workers: int = 1,
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
        records, crops = score_batch(cropper, paths, loaded, job)
        return _Scored(batch, records, crops, time.perf_counter() - start)

    decoder = ThreadPoolExecutor(_DECODE_THREADS, thread_name_prefix="sacrop-decode")
    network = ThreadPoolExecutor(workers, thread_name_prefix="sacrop-network")

    submitted: list[Future[Any]] = []  # those not known to be done, for the shutdown

    def schedule(n: int) -> Future[_Scored]:
        """Batch n's reduced decodes start now, its scoring once the network is free."""
        submitted[:] = [f for f in submitted if not f.done()]  # done ones hold images: let go
        loading = [decoder.submit(analyse, cropper, path, job.max_pixels) for path, _ in batches[n]]
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
    job: CropJob,
    *,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    previous: Mapping[str, PhotoRecord] | None = None,
) -> BatchReport:
    """Crop every photo of ``inputs`` as ``job`` says.

    Photos whose crops are all there are not read again (see :mod:`sacrop_cli.run.resume`;
    ``previous``, an earlier run's records by source, gives their records). ``should_stop`` is
    polled between photos: once true, the run ends after the current photo
    (``report.stopped == "interrupted"``). Raises OutputError when the output folder is
    unusable.
    """
    start = time.perf_counter()
    report, images, emit = start_run(inputs, job, on_progress)
    namer = Namer(job.out_dir, job.format, (p for p, _ in images), xmp=job.stem_sidecars)
    writer = StreamWriter() if job.to_stdout else LocalWriter(namer.is_source)
    resume = Resume(job, writer, previous)
    planned, done, order = [], {}, []
    for i, (path, root) in enumerate(images):
        plan = namer.plan(path, root)
        if (found := resume.done(path, plan)) is not None:
            done[i] = found
        else:
            planned.append((path, plan))
            order.append(i)
    emitted = 0

    def emit_done(upto: int) -> None:
        """The records of the photos done before, up to input position ``upto``."""
        nonlocal emitted
        for i in range(emitted, upto):
            if i in done:
                record, crops = done.pop(i)
                report.count_done(crops)
                emit(record, [])
        emitted = max(emitted, upto)

    def stop_now() -> bool:
        if report.stopped is None and should_stop is not None and should_stop():
            report.stopped = "interrupted"
        return report.stopped is not None

    size = job.batch_size
    batches = [planned[i : i + size] for i in range(0, len(planned), size)]
    decoder = DecodeAhead(writer, job)
    positions = iter(order)
    # photos scored and decoding ahead, in input order, until written
    waiting: deque[tuple[Path, OutputPlan, PhotoRecord, list[Crop] | None, int, Future]] = deque()

    def write_first() -> None:
        """Write the oldest photo waiting (once its decode is done), emit its record."""
        path, plan, record, crops, cost, decoding = waiting.popleft()
        try:
            if stop_now():
                return  # nothing of this photo is written yet: a rerun does it
            emit_done(next(positions))
            decoded: Decoded | None = decoding.result()
            warnings, report.stopped = finish_photo(record, crops, path, plan, writer, job, decoded)
            report.count_photo(record)
            emit(record, warnings)
        finally:
            decoder.done(cost)

    try:
        with (
            cropper.engine.workers() as workers,
            contextlib.closing(_scored_ahead(cropper, batches, job, workers)) as ahead,
        ):
            for scored in ahead:
                report.batch_seconds.append((len(scored.photos), scored.seconds))
                for (path, plan), record, crops in zip(scored.photos, scored.records, scored.crops):
                    cost = decoder.cost(record, crops)
                    while waiting and not report.stopped and not decoder.fits(cost):
                        write_first()
                    if report.stopped:
                        break
                    decoding = _DONE if not cost else decoder.submit(path, plan, crops, cost)
                    waiting.append((path, plan, record, crops, cost, decoding))
                while waiting and waiting[0][-1].done() and not report.stopped:
                    write_first()  # what is ready, before waiting for the network
                if report.stopped:
                    break
            while waiting and not report.stopped:
                write_first()
    finally:
        _shut_down((decoder.pool,), [entry[-1] for entry in waiting])
    emit_done(len(images))  # done photos are done, even after a stop

    report.counts["not_processed"] = (
        len(images) - report.counts["images"] - report.counts["already_done"]
    )
    report.counts["seconds"] = round(time.perf_counter() - start, 3)
    return report
