"""Work on worker threads: pools shut down safely through Ctrl-C, and what finished in any
order put back in input order."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol, TypeVar


class Placed(Protocol):
    """Something done for one of the inputs, which knows its place among them."""

    position: int


T = TypeVar("T", bound=Placed)


def in_order(groups: Iterable[list[T]]) -> Iterator[T]:
    """The items of ``groups`` (photos as :func:`~sacrop_cli.run.writers.write_ahead` yields
    them) in input order (their ``position``: 0, 1, ...), each as soon as those before it are
    out; after a stop, what finished past the photos never started, in order at the end."""
    waiting: dict[int, T] = {}
    upto = 0
    for group in groups:
        waiting.update((photo.position, photo) for photo in group)
        while upto in waiting:
            yield waiting.pop(upto)
            upto += 1
    yield from (waiting[position] for position in sorted(waiting))


def shut_down(pools: Sequence[ThreadPoolExecutor], submitted: Sequence[Future[Any]]) -> None:
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
