"""Messages for people on stderr; stdout is left to machine output (JSON).

One rich ``Console`` on stderr per command run. Colour follows rich's rules (off when stderr is
not a terminal or ``NO_COLOR`` is set); progress bars only run on a terminal and not with
``-q``. Levels: ``-q`` shows errors only, the default adds warnings and the summary, ``-v``
adds a line per photo, ``-vv`` a line per crop.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.text import Text

QUIET, NORMAL, VERBOSE, DEBUG = 0, 1, 2, 3


def level_from_flags(quiet: bool, verbose: int) -> int:
    """``-q`` wins over ``-v``: a script that asked for silence gets it."""
    return QUIET if quiet else min(NORMAL + verbose, DEBUG)


class UI:
    """The stderr console of one command run, with the chosen verbosity."""

    def __init__(self, level: int = NORMAL, console: Console | None = None) -> None:
        self.level = level
        # rich reads NO_COLOR itself; soft_wrap keeps a message on one line in logs
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        return self.console.is_terminal

    def _line(self, prefix: str, style: str, message: str) -> None:
        text = Text()
        if prefix:
            text.append(prefix, style=style)
        text.append(message)  # plain Text: file names with [brackets] are not markup
        self.console.print(text)

    def error(self, message: str) -> None:
        """Always shown, even with ``-q``."""
        self._line("error: ", "bold red", message)

    def warning(self, message: str) -> None:
        if self.level >= NORMAL:
            self._line("warning: ", "yellow", message)

    def info(self, message: str) -> None:
        if self.level >= VERBOSE:
            self._line("", "", message)

    def debug(self, message: str) -> None:
        if self.level >= DEBUG:
            self._line("", "", message)

    def print(self, renderable: object) -> None:
        """A table or other decoration, shown at the default level and above."""
        if self.level >= NORMAL:
            self.console.print(renderable)

    @contextlib.contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[int], None]]:
        """Yield ``advance(n)``; a transient bar on a terminal, nothing otherwise."""
        if self.level < NORMAL or not self.interactive or total <= 0:
            yield lambda n=1: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task(label, total=total)
            yield lambda n=1: bar.advance(task, n)


@contextlib.contextmanager
def interrupts(ui: UI) -> Iterator[Callable[[], bool]]:
    """Yield ``stop_requested()``: the first Ctrl-C only sets it, so the run ends after the
    current photo with a summary; a second one raises KeyboardInterrupt at once (writes are
    atomic: no partial file either way). Signals can only be caught in the main thread."""
    requested = False
    if threading.current_thread() is not threading.main_thread():
        yield lambda: requested
        return

    def handler(signum: int, frame: object) -> None:
        nonlocal requested
        if requested:
            raise KeyboardInterrupt
        requested = True
        ui.warning("interrupted: finishing the current photo (Ctrl-C again to stop at once)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: requested
    finally:
        signal.signal(signal.SIGINT, previous)


def silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit raises no second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
