"""Data-parallel training in several processes: the process group, which process does what, and
the launcher behind ``sacrop train --nproc N``.

Every process (rank) holds the same model, optimiser and random generators. Each computes the
losses of its share of a step's photos, the gradients are summed over the ranks, and every rank
takes the same optimiser step: the single process's step, up to the order of float additions.
torchrun, or any launcher that sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT``, starts the ranks itself; ``--nproc`` starts them on this machine with
:func:`launch`. Without a process group every helper here is the single process's no-op.
"""

from __future__ import annotations

import math
import os
import pickle
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing import connection
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from sacrop_cli.errors import SacropError, one_line

T = TypeVar("T")

# photos each rank prepares between two exchanges: the progress bar moves, memory stays flat
EXCHANGE_CHUNK = 16


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """Rank 0 alone validates, writes files and reports progress."""
    return rank() == 0


def launched_by_environment() -> bool:
    """True under torchrun (or another launcher that sets the ``env://`` variables)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def environment_rank() -> int:
    """This process's rank before the group exists (to keep the other ranks quiet from the
    start)."""
    return int(os.environ.get("RANK", "0"))


@contextmanager
def process_group(device: str, local_rank: int, **init: Any) -> Iterator[None]:
    """Membership of the group for the duration of the block: gloo on the CPU, NCCL on GPUs,
    one GPU per process (``local_rank``, made the current device so that ``cuda`` means it).
    ``init`` goes to ``init_process_group``; without it, the ``env://`` variables are read."""
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl" if cuda else "gloo", **init)
    try:
        yield
    finally:
        dist.destroy_process_group()


def owns(position: int) -> bool:
    """Whether this rank computes the photo at ``position`` of a step: every world-th photo
    from its rank, so a global batch of B photos gives each rank B / world of them."""
    return position % world_size() == rank()


def map_shared(
    fn: Callable[[int], T], n: int, on_done: Callable[[], None] | None = None
) -> list[T]:
    """``[fn(0), ..., fn(n - 1)]`` on every rank, each rank computing every world-th value
    (decoding photos and caching their features is the slow part of preparing a run) and the
    ranks exchanging them. ``on_done`` is called once per value, as values arrive."""
    world, me = world_size(), rank()
    values: list[Any] = [None] * n
    if world == 1:
        for i in range(n):
            values[i] = fn(i)
            if on_done:
                on_done()
        return values
    mine = range(me, n, world)
    # the same number of rounds on every rank: each call below is a collective
    for start in range(0, math.ceil(n / world), EXCHANGE_CHUNK):
        local = [(i, fn(i)) for i in mine[start : start + EXCHANGE_CHUNK]]
        gathered: list[Any] = [None] * world
        dist.all_gather_object(gathered, local)
        for part in gathered:
            for i, value in part:
                values[i] = value
                if on_done:
                    on_done()
    return values


def sum_gradients(params: list[torch.Tensor]) -> None:
    """Sum the parameters' gradients over the ranks, in place, in one all_reduce.

    Each rank's loss is already its photos' share of the global batch's mean, so the sum is the
    single process's gradient. A parameter no rank has a gradient for keeps ``None``, which the
    optimiser skips as a single process's would; one that some rank lacks counts as zero there.

    Why not DistributedDataParallel: DDP reduces gradients through hooks it arms in its
    module's ``forward``, and the trainer never calls ``forward``: per photo it runs the
    network's parts (features from the cached stem, crop embeddings, scores, pair comparisons),
    several photos a step. A rank may even have no photo in a short last step, hence no backward
    pass, which DDP would wait for. One all_reduce after the backward pass is what DDP does, less
    the overlap of communication with the backward pass: little beside a step's forward passes.
    """
    if world_size() == 1 or not params:
        return
    device = params[0].device
    had = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    flat = torch.cat(
        [had]
        + [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
    )
    dist.all_reduce(flat)
    offset = len(params)
    for p, present in zip(params, flat[: len(params)].tolist()):
        p.grad = flat[offset : offset + p.numel()].view_as(p) if present else None
        offset += p.numel()


def sum_values(values: dict[str, float]) -> dict[str, float]:
    """Each key's sum over the ranks (a key that some rank lacks counts as zero there)."""
    if world_size() == 1:
        return values
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, values)
    total: dict[str, float] = {}
    for part in gathered:
        for key, value in part.items():
            total[key] = total.get(key, 0.0) + value
    return total


def from_main(value: T) -> T:
    """Rank 0's ``value`` on every rank (what rank 0 alone computed, e.g. validation)."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait until every rank gets here (e.g. until rank 0 has written the files)."""
    if world_size() > 1:
        dist.barrier()


def describe(err: BaseException) -> str:
    """One line for an error in a rank: a SacropError's own message, or the type and message."""
    if isinstance(err, SacropError):
        return one_line(err)
    return f"{type(err).__name__}: {one_line(err)}"


def launch(nproc: int, device: str, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in ``nproc`` new processes on this machine, ranks 0 to nproc - 1 of one group;
    returns rank 0's value.

    Why not torchrun (``torch.distributed.run``) or ``torch.multiprocessing.spawn``: here the
    failure of a rank comes back as its one-line message, raised as a SacropError (so the
    command's usual exit status), the other ranks stopped, and rank 0's value comes back too;
    torchrun prints a multi-line failure report of its own, spawn returns no value and passes
    tracebacks and its own log warnings. The processes are spawned (fresh interpreters, as CUDA
    requires); they meet at a store this process serves on a port the system picks, so no other
    program can take the port between choosing and binding it, as with a port chosen in advance.
    On the CPU each rank gets an equal share of the cores as torch threads.

    Ctrl-C reaches every process of the terminal's group: the ranks stop as one process would
    (rank 0 leaves the resume file) and their result comes back; a second Ctrl-C here stops them.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    procs, readers = [], {}
    for r in range(nproc):
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_worker,
            args=(r, nproc, store.port, device, fn, args, writer),
            name=f"sacrop-rank-{r}",
        )
        proc.start()
        writer.close()
        procs.append(proc)
        readers[reader] = r
    replies: dict[int, tuple[str, Any]] = {}
    interrupted = False
    try:
        while readers and all(kind == "ok" for kind, _ in replies.values()):
            try:
                for reader in connection.wait(list(readers)):
                    r = readers.pop(reader)
                    try:
                        replies[r] = pickle.loads(reader.recv_bytes())
                    except EOFError:  # it died without a word: killed, or the interpreter crashed
                        procs[r].join()
                        replies[r] = ("error", (_exit_reason(procs[r].exitcode), time.monotonic()))
            except KeyboardInterrupt:
                if interrupted:
                    raise
                interrupted = True
    finally:
        failed = any(kind != "ok" for kind, _ in replies.values()) or len(replies) < nproc
        for proc in procs:
            if failed and proc.is_alive():
                proc.terminate()  # it may wait forever in a collective for the failed rank
            proc.join()
    failures = [(r, kind, value) for r, (kind, value) in replies.items() if kind != "ok"]
    if interrupted or any(kind == "interrupted" for _, kind, _ in failures):
        if not failures:
            return replies[0][1]
        raise KeyboardInterrupt
    if failures:
        # the first to fail: the others fail when they find it gone (the system-wide monotonic
        # clock orders them; replies that arrive together come in no particular order)
        r, _, (message, _) = min(failures, key=lambda failure: failure[2][1])
        raise SacropError(f"training process {r} of {nproc}: {message}")
    return replies[0][1]


def _worker(
    r: int,
    nproc: int,
    port: int,
    device: str,
    fn: Callable[..., Any],
    args: tuple,
    conn: connection.Connection,
) -> None:
    """One rank of :func:`launch`: joins the group, runs ``fn`` and sends back its reply (the
    parent reads the first reply of each rank)."""

    def reply(message: tuple[str, Any]) -> None:
        # plain pickle: multiprocessing's own would pass tensors as handles to this process's
        # shared memory, gone once it exits
        conn.send_bytes(pickle.dumps(message))

    try:
        if torch.device(device).type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
        store = dist.TCPStore("127.0.0.1", port, is_master=False)
        with process_group(device, r, store=store, rank=r, world_size=nproc):
            try:
                value = fn(*args)
            except Exception as err:  # noqa: BLE001 - whatever stops a rank is reported
                reply(_failure(err))  # before leaving the group, which makes the others fail
                return
        reply(("ok", value if r == 0 else None))
    except KeyboardInterrupt:
        reply(("interrupted", None))
    except Exception as err:  # noqa: BLE001 - joining or leaving the group failed
        reply(_failure(err))


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def _failure(err: Exception) -> tuple[str, Any]:
    return "error", (describe(err), time.monotonic())
