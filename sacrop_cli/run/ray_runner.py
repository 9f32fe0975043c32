"""``sacrop crop --ray``: the Ray executor of the batch driver (:mod:`sacrop_cli.run.driver`),
and :func:`crop_dataset` for those who already have a Ray Dataset.

This process only handles paths and small records. The driver lists the photos and gives each
its output plan (:class:`~sacrop_cli.run.naming.OutputPlan`) in input order, as for a local run;
rows of paths and plans go to a pool of actors (``map_batches`` with an ``ActorPoolStrategy``),
each of which loads the model (:class:`~sacrop_cli.api.ModelSpec`) once and reads, scores and
writes the photos of its batches with the local run's own code (``analyse``, ``score_batch``,
and the write workers of :func:`~sacrop_cli.run.writers.write_ahead`). Back comes one small row per photo, its manifest record:
the driver puts the records in input order, so the manifest, the progress and the summary are
the local run's.

Ray is imported here only, and only when a function of this module runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sacrop_cli.api import ModelSpec
from sacrop_cli.errors import SacropError, one_line
from sacrop_cli.io.imageio import known_crop_extension
from sacrop_cli.io.storage import (
    RemoteWriter,
    download,
    file_system_options,
    is_uri,
    join,
    use_file_system_options,
)
from sacrop_cli.record import PhotoRecord, arrow_schema, from_row
from sacrop_cli.run import driver
from sacrop_cli.run.driver import Batch, PhotoResult, Todo
from sacrop_cli.run.job import FORMAT_EXTENSIONS, CropJob
from sacrop_cli.run.local import analyse, score_batch
from sacrop_cli.run.naming import Namer, OutputPlan
from sacrop_cli.run.report import BatchReport, ProgressCallback
from sacrop_cli.run.threads import in_order
from sacrop_cli.run.writers import CropWriter, DecodeAhead, LocalWriter, write_ahead

if TYPE_CHECKING:
    import pyarrow as pa
    import ray.data

    from sacrop_cli.io.inputs import InputScan


#: Photos each actor decodes and writes at once: one while the next is read or uploaded (an
#: actor asks Ray for one CPU; Pillow releases the GIL while it decodes and encodes).
WRITE_THREADS = 2


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise SacropError(
            '--ray needs Ray, which is not installed: pip install "sacrop[ray]"'
        ) from None
    return ray


def _row_schema() -> pa.Schema:
    """The rows the actors return: a manifest record, the photo's warnings, and ``stop``: why
    no later write can succeed (a full disk), or null."""
    import pyarrow as pa

    return arrow_schema(warnings=pa.list_(pa.string()), stop=pa.string())


@dataclass(frozen=True)
class WorkerSettings:
    """What every actor is started with: the driver's working folder (relative paths mean what
    they meant there), the model, the job, and the folder the sources' output folders mirror
    (:func:`crop_dataset`'s ``root``)."""

    cwd: str
    model: ModelSpec
    job: CropJob
    root: str | None = None
    #: the options of the URIs' file systems (``?endpoint_override=...``), by URI
    file_systems: Mapping[str, str] = field(default_factory=dict)


class CropWorker:
    """One actor of the pool: the network, loaded once, then batches of rows (``path``, and
    ``bytes`` or ``plan`` when given) in, one record row per photo out.

    A photo named by a URI, or given as bytes, is copied into a temporary folder and read from
    there by the local code; its record and messages name it as given.
    """

    def __init__(self, settings: WorkerSettings) -> None:
        if os.path.isdir(settings.cwd):  # relative paths mean what they meant to the driver
            os.chdir(settings.cwd)
        use_file_system_options(settings.file_systems)  # the URIs' ?options, as the driver's
        self.cropper = settings.model.load()
        self.settings = settings
        self.job = settings.job
        self.out_dir = str(self.job.out_dir)
        self.in_the_way: set[str] = set()  # sources the crops of this batch may not replace
        is_source = self.in_the_way.__contains__
        self.writer = (
            RemoteWriter(self.out_dir, is_source)
            if is_uri(self.out_dir)
            else LocalWriter(lambda out: os.path.realpath(out) in self.in_the_way)
        )

    def _plan(self, row: dict[str, Any]) -> OutputPlan:
        """The plan the driver made, or (for :func:`crop_dataset`) the source's name in its
        folder under ``out_dir``, mirrored from ``root``."""
        if row.get("plan"):
            plan = json.loads(row["plan"])
            self.in_the_way.update(plan.pop("in_the_way"))
            return OutputPlan(**plan)
        source, root = PurePosixPath(row["path"]), self.settings.root
        folder = source.parent.relative_to(root) if root else "."
        fmt = self.job.format
        ext = FORMAT_EXTENSIONS[fmt] if fmt else known_crop_extension(source)
        return OutputPlan(join(self.out_dir, folder), source.name, ext, str(folder))

    def _local(self, row: dict[str, Any], folder: Path) -> tuple[Path, SacropError | None]:
        """The file to read the photo from (its own path, or a copy in ``folder``), and why
        the copy could not be made."""
        source = row["path"]
        if row.get("bytes") is None and not is_uri(source):
            return Path(source), None
        folder.mkdir()
        local = folder / (PurePosixPath(source).name or "photo")
        try:
            if row.get("bytes") is not None:
                local.write_bytes(row["bytes"])
            else:
                download(source, local)
        except (SacropError, OSError) as err:  # named as the local file: _as_given renames it
            reason = one_line(err).replace(f"{source}: ", "")
            return local, SacropError(f"{local}: cannot read: {reason}")
        return local, None

    def __call__(self, batch: pa.Table) -> pa.Table:
        import pyarrow as pa

        job = self.job
        rows = batch.to_pylist()
        self.in_the_way.clear()
        out = []
        with tempfile.TemporaryDirectory(prefix="sacrop-") as tmp:
            copies = [self._local(row, Path(tmp) / str(i)) for i, row in enumerate(rows)]
            todo = [Todo(-1, local, self._plan(row)) for row, (local, _) in zip(rows, copies)]
            loaded = [
                error or analyse(self.cropper, local, job.max_pixels) for local, error in copies
            ]
            sources = [row["path"] for row in rows]
            scored = score_batch(self.cropper, todo, loaded, job, sources)
            for position, result in enumerate(scored):
                result.position = position
            # decoded and written by the local run's workers, WRITE_THREADS photos at once
            decoder = DecodeAhead(self.writer, job, threads=WRITE_THREADS)
            with contextlib.closing(write_ahead(decoder, scored, lambda: False)) as written:
                for result in in_order(written):
                    out.append(_as_given(sources[result.position], str(result.path), result))
        return pa.Table.from_pylist(out, schema=_row_schema())


def _as_given(source: str, read_from: str, result: PhotoResult) -> dict[str, Any]:
    """The record row, naming the photo as it was given rather than its temporary copy."""
    record, warnings, stop = result.record, result.warnings, result.stop
    if read_from != source:
        record["source"] = source
        if record["error"]:
            record["error"] = record["error"].replace(read_from, source)
        warnings = [w.replace(read_from, source) for w in warnings]
    return {**record, "warnings": warnings, "stop": stop}


def crop_dataset(
    ds: ray.data.Dataset,
    job: CropJob | None = None,
    *,
    model: ModelSpec = ModelSpec(),
    root: str | None = None,
    workers: int | None = None,
    gpus: float = 0,
    restart_actors: bool = True,
) -> ray.data.Dataset:
    """A Dataset of crop records from one of photos: rows with a ``path`` (a local or shared
    path, or a URI) and, optionally, the file's ``bytes`` (``ray.data.read_binary_files(...,
    include_paths=True)`` gives both).

    Each output row is a manifest record (``source``, ``width``, ``height``, ``status``,
    ``error``, ``faces``, ``crops``), plus the photo's ``warnings`` and ``stop`` (why no later
    write can succeed, e.g. a full disk; else null). Unless ``job`` is a dry run, the crops are
    written to its ``out_dir`` (a folder every worker sees, or a URI), as ``sacrop crop`` writes
    them: in the source's folder relative to ``root`` (at the top without it), named
    ``<stem>.<ratio>.<rank><ext>``, an existing file kept unless the job overwrites. Unlike
    ``sacrop crop``, rows are named independently: two sources whose crops would share a name
    overwrite or skip each other, so give photos whose names differ. ``job`` defaults to
    ``CropJob(dry_run=True)``: nothing written. ``model`` is what each actor loads.

    The work is lazy, as Ray's is: it runs when the Dataset is consumed, on a pool of
    ``workers`` actors (default: as many as the cluster can hold), each with ``gpus`` GPUs and
    the network loaded once; an actor that dies is started again unless ``restart_actors`` is
    off (on one machine there is no node to lose, and Ray then warns of each actor it could
    restart).
    """
    ray = _import_ray()

    settings = WorkerSettings(
        os.getcwd(),
        model,
        job if job is not None else CropJob(dry_run=True),
        root,
        file_system_options(),
    )
    with warnings.catch_warnings():
        # max_restarts is passed the only way Ray Data takes it, which it calls deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        return ds.map_batches(
            CropWorker,
            fn_constructor_args=(settings,),
            batch_size=settings.job.batch_size,
            batch_format="pyarrow",
            compute=(
                ray.data.ActorPoolStrategy(size=workers)
                if workers
                else ray.data.ActorPoolStrategy(min_size=1, max_size=None)
            ),
            num_cpus=1,
            num_gpus=gpus or None,
            **({} if restart_actors else {"max_restarts": 0}),
        )


@contextlib.contextmanager
def connected(address: str, quiet: bool = True) -> Iterator[Any]:
    """Ray, connected as ``--ray`` says: ``local`` starts a Ray on this machine for the run,
    ``auto`` joins the cluster of ``RAY_ADDRESS`` or ``ray start``, anything else is an address.
    A process already connected (a notebook, a test) is used as it is. ``quiet`` keeps Ray's own
    messages and progress bars off the terminal, which shows the run's."""
    ray = _import_ray()
    if ray.is_initialized():
        yield ray
        return
    options: dict[str, Any] = {"logging_level": logging.ERROR} if quiet else {}
    if quiet:
        options["log_to_driver"] = False
    if address == "local":
        options["include_dashboard"] = False
    else:
        _check_reachable(address)
    try:
        ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise SacropError(f"--ray {address}: cannot connect: {one_line(err)}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, naming the address, when nothing answers at a ``host:port`` address (Ray
    itself retries for minutes); ``auto`` and addresses without a port are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise SacropError(f"--ray {address}: cannot connect: nothing answers there ({reason})")


def _quiet_ray_data(ray: Any) -> None:
    """Ray Data's progress bars and log lines would interleave with the run's bar and
    messages on stderr."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


@dataclass(frozen=True)
class RayExecutor:
    """A Ray cluster: ``address`` as ``--ray`` gives it (see :func:`connected`), a pool of
    ``workers`` actors (default: as many as the cluster holds) with ``gpus`` GPUs each, each
    loading ``model`` once. ``quiet`` keeps Ray's own messages off the terminal."""

    address: str
    model: ModelSpec = ModelSpec()
    workers: int | None = None
    gpus: float = 0
    quiet: bool = True

    def __post_init__(self) -> None:
        _import_ray()  # before any work: without Ray there is nothing to do

    def writer(self, job: CropJob, namer: Namer) -> CropWriter:
        out_dir = str(job.out_dir)
        if is_uri(out_dir):
            return RemoteWriter(out_dir, namer.is_source)
        return LocalWriter(namer.is_source)

    def results(self, batch: Batch) -> Iterator[list[PhotoResult]]:
        """The rows of the actors as they arrive, a batch of them at a time; their records
        name the photos as given, so they are placed by their source."""
        positions: dict[str, list[int]] = {}  # source -> its positions (given twice...)
        rows = []
        for todo in batch.todo:
            in_the_way = batch.namer.sources_in_the_way(todo.plan)
            plan = json.dumps({**asdict(todo.plan), "in_the_way": in_the_way})
            rows.append({"path": str(todo.path), "plan": plan})
            positions.setdefault(str(todo.path), []).append(todo.position)
        with connected(self.address, self.quiet) as ray:
            if self.quiet:
                _quiet_ray_data(ray)
            blocks = math.ceil(len(rows) / batch.job.batch_size)
            ds = ray.data.from_items(rows, override_num_blocks=blocks)
            records = crop_dataset(
                ds,
                batch.job,
                model=self.model,
                workers=self.workers,
                gpus=self.gpus,
                restart_actors=self.address != "local",
            )
            try:
                for table in records.iter_batches(batch_format="pyarrow", batch_size=None):
                    yield [_result(row, positions) for row in table.to_pylist()]
                    if batch.stopping():
                        return  # the batches under way are cancelled
            except ray.exceptions.RayError as err:
                raise SacropError(f"the Ray job failed: {_last_line(err)}") from None


def _result(row: dict[str, Any], positions: dict[str, list[int]]) -> PhotoResult:
    """An actor's row as a photo's result, at the place of its source."""
    record = from_row(row)
    position = positions[record["source"]].pop(0)
    return PhotoResult(
        Path(record["source"]), None, record, None, row["warnings"], row["stop"], position
    )


def run_on_ray(
    address: str,
    inputs: InputScan,
    job: CropJob,
    *,
    model: ModelSpec = ModelSpec(),
    workers: int | None = None,
    gpus: float = 0,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    quiet_ray: bool = True,
    previous: Mapping[str, PhotoRecord] | None = None,
) -> BatchReport:
    """:func:`sacrop_cli.run.driver.run_batch` on Ray (:class:`RayExecutor`): the same records,
    in the same order, the same crops and names as a local run.

    ``should_stop`` is polled as records arrive: once true, the run ends, the batches under way
    are cancelled (their crops are whole or absent) and the records received are reported, in
    input order. Raises SacropError when Ray is missing or cannot be reached, or the job fails.
    """
    return driver.run_batch(
        RayExecutor(address, model, workers, gpus, quiet_ray),
        inputs,
        job,
        on_progress=on_progress,
        should_stop=should_stop,
        previous=previous,
    )


def _last_line(err: BaseException) -> str:
    """The original error at the end of Ray's report (a traceback from another process)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else one_line(err)
