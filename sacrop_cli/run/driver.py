"""The batch driver: one crop run, whatever executes it.

What every run does is written here once: the preamble (the inputs sorted, the output checked,
each photo's naming plan, the photos already done skipped), the records emitted in input order
as photos finish, the stop rules (a request, or a write no later photo could make) and the
counts. What differs is how photos are analysed and written, an :class:`Executor`: threads on
this machine (:class:`sacrop_cli.run.local.LocalExecutor`, which ``sacrop review`` also uses
for its analysis) or a Ray cluster (:class:`sacrop_cli.run.ray_runner.RayExecutor`). An
executor gets a :class:`Batch` and yields :class:`PhotoResult` s, in any order.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sacrop_cli.io.inputs import InputScan
from sacrop_cli.record import PhotoRecord
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.naming import Namer, OutputPlan
from sacrop_cli.run.report import BatchReport, ProgressCallback, start_run
from sacrop_cli.run.resume import Resume
from sacrop_cli.run.writers import CropWriter
from sacrop_cli.search import Crop


@dataclass
class Todo:
    """A photo to crop: its place among the photos, its path, where its crops go."""

    position: int
    path: Path
    plan: OutputPlan


@dataclass
class PhotoResult:
    """One photo through an executor: where it was read from and where its crops go, its
    record (why it failed, if it did), its crops (None when it failed before the network chose
    any), the warnings it raised, and ``stop``: why no later photo can be written (a full
    disk), or None. ``position`` is its place among the run's photos (-1 until the driver's
    side of a Ray run knows it)."""

    path: Path
    plan: OutputPlan | None
    record: PhotoRecord
    crops: list[Crop] | None = None
    warnings: list[str] = field(default_factory=list)
    stop: str | None = None
    position: int = -1


@dataclass
class Batch:
    """What an executor is given: the job, the photos to crop in input order, where their crops
    go, and the run's report (executors add their batch times to it)."""

    job: CropJob
    todo: list[Todo]
    namer: Namer
    writer: CropWriter
    report: BatchReport
    should_stop: Callable[[], bool] | None = None

    def stopping(self) -> bool:
        """Whether the run is to end: asked to (``should_stop``, polled here), or a write
        failed in a way every later one would."""
        report = self.report
        if report.stopped is None and self.should_stop is not None and self.should_stop():
            report.stopped = "interrupted"
        return report.stopped is not None

    def stop_asked(self) -> bool:
        """:meth:`stopping`, asked from a worker thread: nothing recorded."""
        return self.report.stopped is not None or bool(self.should_stop and self.should_stop())


class Executor(Protocol):
    """How the photos of a run are analysed and written."""

    def writer(self, job: CropJob, namer: Namer) -> CropWriter:
        """Where the job's crops are written, as the driver checks them (resume)."""
        ...

    def results(self, batch: Batch) -> Iterator[list[PhotoResult]]:
        """The photos of ``batch.todo``, done, in groups as they finish (each result with its
        ``position``); polling ``batch.stopping()`` between photos: once true, it yields the
        photos under way as they finish (their crops are on disk) and ends. Closed early (an
        error, the second Ctrl-C), it stops what is under way."""
        ...


class _InOrder:
    """Records emitted in input order as photos finish: the executor's results, and the
    records of the photos done before (``done``: position -> record and its crop count)."""

    def __init__(self, total: int, report: BatchReport, emit: ProgressCallback) -> None:
        self.total, self.report, self.emit = total, report, emit
        self.done: dict[int, tuple[PhotoRecord, int]] = {}
        self.arrived: dict[int, PhotoResult] = {}
        self.emitted = 0

    def flush(self, upto: int | None = None) -> None:
        """Emit what can be, in order: up to the first gap, or (a stop, the end) to ``upto``."""
        if upto is None:
            upto = self.emitted
            while upto < self.total and (upto in self.arrived or upto in self.done):
                upto += 1
        for i in range(self.emitted, upto):
            if i in self.done:
                record, crops = self.done.pop(i)
                self.report.count_done(crops)
                self.emit(record, [])
            elif (result := self.arrived.pop(i, None)) is not None:
                self.report.count_photo(result.record)
                self.emit(result.record, result.warnings)
        self.emitted = max(self.emitted, upto)


def run_batch(
    executor: Executor,
    inputs: InputScan,
    job: CropJob,
    *,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    previous: Mapping[str, PhotoRecord] | None = None,
) -> BatchReport:
    """Crop every photo of ``inputs`` as ``job`` says, with ``executor``.

    Photos whose crops are all there are not read again (see :mod:`sacrop_cli.run.resume`;
    ``previous``, an earlier run's records by source, gives their records). ``should_stop`` is
    polled between photos: once true, the run ends after the photos under way, which are
    reported (``report.stopped == "interrupted"``). Raises OutputError when the output folder is
    unusable.
    """
    start = time.perf_counter()
    report, images, emit = start_run(inputs, job, on_progress)
    namer = Namer(
        job.out_dir,
        job.format,
        (p for p, _ in images),
        xmp=job.stem_sidecars,
        protected=inputs.named,
    )
    writer = executor.writer(job, namer)
    resume = Resume(job, writer, previous)
    order = _InOrder(len(images), report, emit)
    todo = []
    for i, (path, root) in enumerate(images):
        plan = namer.plan(path, root)
        if (found := resume.done(path, plan)) is not None:
            order.done[i] = found
        else:
            todo.append(Todo(i, path, plan))
    batch = Batch(job, todo, namer, writer, report, should_stop)
    try:
        if todo:
            with contextlib.closing(executor.results(batch)) as results:
                for finished in results:
                    for result in finished:
                        order.arrived[result.position] = result
                        report.stopped = report.stopped or result.stop
                    order.flush()
    finally:
        order.flush(order.total)  # what finished, in order: gaps are photos not processed
    report.counts["not_processed"] = (
        len(images) - report.counts["images"] - report.counts["already_done"]
    )
    report.counts["seconds"] = round(time.perf_counter() - start, 3)
    return report
