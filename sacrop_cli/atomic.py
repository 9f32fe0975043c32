"""Files that appear complete or not at all: written to a temporary name, renamed into place."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from sacrop_cli.errors import OutputError


def default_file_mode() -> int:
    """Permissions a plain ``open(..., "w")`` would give; temporary files are created 0600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Callable[[IO[bytes]], None], *, fsync: bool = False) -> Path:
    """Call ``write`` on a temporary file in ``path``'s folder, then rename it to ``path``.

    A failure (or Ctrl-C) leaves ``path`` as it was and no temporary file; ``fsync`` makes the
    content durable before the rename (for files that are expensive to remake, like weights).
    Raises OutputError naming ``path`` when the folder or the file cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OutputError(f"{path}: cannot write: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except OSError as err:
        raise OutputError(f"{path}: cannot write: {err.strerror or err}") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
