"""The local executor of the batch driver (:mod:`sacrop_cli.run.driver`): photos analysed,
scored and written by threads on this machine.

Per photo: a reduced decode for the network, scoring in batches of the job's ``batch_size``
photos, then (unless a dry run) one full decode from which every chosen crop is saved. All of it
overlaps: network threads score the next batches while a small thread pool decodes the reduced
images of the one after (see :func:`_scored_ahead`), and worker threads decode the scored photos
at full size and encode and write their crops (:func:`~sacrop_cli.run.writers.write_ahead`),
while the calling thread hands the finished photos to the driver, which reports them in input
order. A photo that fails
becomes an ``"error"`` record (see :mod:`sacrop_cli.record`) and the batch goes on; memory stays
flat because at most a few batches are scored ahead, the full decodes ahead are bounded by their
pixels, and images are dropped once written.
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
from sacrop_cli.io.imageio import open_for_analysis
from sacrop_cli.io.inputs import InputScan
from sacrop_cli.record import PhotoRecord, analysed, fail
from sacrop_cli.run import driver
from sacrop_cli.run.driver import Batch, PhotoResult, Todo
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.naming import Namer
from sacrop_cli.run.report import BatchReport, ProgressCallback
from sacrop_cli.run.writers import (
    CropWriter,
    DecodeAhead,
    LocalWriter,
    StreamWriter,
    write_ahead,
)
from sacrop_cli.run.threads import shut_down

#: Threads decoding the reduced images of the next batch while the network scores this one.
_DECODE_THREADS = 2


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
    todo: Sequence[Todo],
    loaded: Sequence[Analysis | SacropError | OSError],
    job: CropJob,
    sources: Sequence[str] | None = None,
) -> list[PhotoResult]:
    """One network pass over the photos :func:`analyse` could read: per photo its result, with
    its record (upright size, or why it failed) and its crops (None when it failed).
    ``sources`` are the photos as given, when the paths are copies (Ray): their hints are
    looked up by them."""
    results = [
        PhotoResult(t.path, t.plan, analysed(t.path, a), position=t.position)
        for t, a in zip(todo, loaded)
    ]
    hints = [job.hints_for(s) for s in (sources if sources is not None else [t.path for t in todo])]
    analyses: dict[int, Analysis] = {}
    for i, (result, analysis) in enumerate(zip(results, loaded)):
        if not isinstance(analysis, Analysis):
            continue
        try:
            hints[i].in_pixels(*analysis.full_size)
        except ValueError as err:  # a hint outside this photo: the photo fails, not the batch
            fail(result.record, result.path, SacropError(f"{result.path}: {err}"))
            continue
        analyses[i] = analysis
    try:
        found = (
            cropper.best_crops(
                list(analyses.values()),
                job.parsed_ratios,
                job.top_k,
                orient=job.orient,
                hints=[hints[i] for i in analyses],
            )
            if analyses
            else []
        )
    except (SacropError, OSError) as err:
        for i in analyses:
            fail(results[i].record, results[i].path, err)
        found = []
    for i, photo_crops in zip(analyses, found):
        results[i].crops = photo_crops
    return results


@dataclass
class _Scored:
    """A batch after the network: :func:`score_batch`'s results."""

    results: list[PhotoResult]
    seconds: float  # the reduced decodes the network waited for, plus its pass


def _scored_ahead(
    cropper: Cropper,
    batches: list[list[Todo]],
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

    def score(batch: list[Todo], loading: list[Future[Analysis | Exception]]) -> _Scored:
        start = time.perf_counter()
        loaded = [future.result() for future in loading]
        return _Scored(score_batch(cropper, batch, loaded, job), time.perf_counter() - start)

    decoder = ThreadPoolExecutor(_DECODE_THREADS, thread_name_prefix="sacrop-decode")
    network = ThreadPoolExecutor(workers, thread_name_prefix="sacrop-network")

    submitted: list[Future[Any]] = []  # those not known to be done, for the shutdown

    def schedule(n: int) -> Future[_Scored]:
        """Batch n's reduced decodes start now, its scoring once the network is free."""
        submitted[:] = [f for f in submitted if not f.done()]  # done ones hold images: let go
        loading = [decoder.submit(analyse, cropper, t.path, job.max_pixels) for t in batches[n]]
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
        shut_down((decoder, network), submitted)


class LocalExecutor:
    """Threads on this machine: the network scores batches ahead, and worker threads decode the
    scored photos at full size and write their crops (:func:`~sacrop_cli.run.writers.write_ahead`:
    a stop lets the photos in flight finish, and starts no other). ``cropper`` is a Cropper,
    or a function that loads one once there is a photo to analyse."""

    def __init__(self, cropper: Cropper | Callable[[], Cropper]) -> None:
        self.cropper = cropper

    def writer(self, job: CropJob, namer: Namer) -> CropWriter:
        return StreamWriter() if job.to_stdout else LocalWriter(namer.is_source)

    def results(self, batch: Batch) -> Iterator[list[PhotoResult]]:
        cropper = self.cropper if isinstance(self.cropper, Cropper) else self.cropper()
        job, report, size = batch.job, batch.report, batch.job.batch_size
        batches = [batch.todo[i : i + size] for i in range(0, len(batch.todo), size)]
        with (
            cropper.engine.workers() as workers,
            contextlib.closing(_scored_ahead(cropper, batches, job, workers)) as ahead,
        ):

            def scored() -> Iterator[PhotoResult]:
                for one in ahead:
                    report.batch_seconds.append((len(one.results), one.seconds))
                    yield from one.results

            decoder = DecodeAhead(batch.writer, job, halted=batch.stop_asked)
            with contextlib.closing(write_ahead(decoder, scored(), batch.stopping)) as written:
                yield from written


def run_batch(
    cropper: Cropper | Callable[[], Cropper],
    inputs: InputScan,
    job: CropJob,
    *,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    previous: Mapping[str, PhotoRecord] | None = None,
) -> BatchReport:
    """:func:`sacrop_cli.run.driver.run_batch` on this machine, with ``cropper``."""
    return driver.run_batch(
        LocalExecutor(cropper),
        inputs,
        job,
        on_progress=on_progress,
        should_stop=should_stop,
        previous=previous,
    )
