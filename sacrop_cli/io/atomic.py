"""Files that appear complete or not at all: written to a temporary name, renamed into place.

Every file sacrop writes (crops, manifests, previews, checkpoints, graphs) goes through here.
Temporary files are named ``.<final name>.<8 random characters>.tmp`` in the destination
folder; a run killed while writing leaves one behind, which the next run writing the same name
removes (:func:`stale_temp_files`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from sacrop_cli.errors import OutputError, one_line

_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})


def default_file_mode() -> int:
    """Permissions a plain ``open(..., "w")`` would give; temporary files are created 0600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def stale_temp_files(folder: Path | str) -> dict[str, list[Path]]:
    """Temporary files in ``folder`` by the final name they were for.

    A finished or interrupted run leaves none, so these are from killed runs; callers delete
    only those of names they are producing themselves, never a whole folder's.
    """
    folder = Path(folder)
    try:
        names = os.listdir(folder)
    except OSError:
        return {}
    found: dict[str, list[Path]] = {}
    for name in sorted(names):
        target = temp_target(name)
        if target is not None:
            found.setdefault(target, []).append(folder / name)
    return found


def temp_target(name: str) -> str | None:
    """The final name a temporary file of ours is for (None for other files)."""
    match = _TEMP_NAME.fullmatch(name)
    return match["name"] if match else None


def temp_name(name: str) -> str:
    """A new temporary name for ``name``, where no file system offers one (object stores)."""
    return f".{name}.{secrets.token_hex(4)}.tmp"


def exists_error(path: Path | str) -> OutputError:
    return OutputError(f"{path}: already exists (use --overwrite)")


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable; some file systems cannot fsync a folder, which is fine."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    """Move the finished temporary file to ``path``; never clobber unless ``overwrite``."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic "create if absent"
        return
    except FileExistsError:
        raise exists_error(path) from None
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
    # No hard links here (FAT, some network shares): claim the name, then rename over it.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise exists_error(path) from None
    os.close(fd)
    try:
        os.replace(tmp, path)
    except OSError:
        path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(
    path: Path | str, mode: str = "wb", *, overwrite: bool = True, durable: bool = False
) -> Iterator[IO]:
    """A file object to write ``path`` through: on a clean exit from the ``with`` block the
    content appears at ``path`` (never over an existing file unless ``overwrite``); on any
    error or Ctrl-C, ``path`` is untouched and no temporary file is left. ``durable`` syncs the
    content and the folder to disk (crops, weights: expensive to remake). Raises OutputError
    naming ``path`` when it cannot be written.
    """
    path = Path(path)
    if not overwrite and os.path.lexists(path):  # fail early; the publish step is the real check
        raise exists_error(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = tempfile.NamedTemporaryFile(
            mode,
            dir=path.parent,
            prefix=f".{path.name}.",
            suffix=".tmp",
            delete=False,
            **({} if "b" in mode else {"encoding": "utf-8"}),
        )
    except OSError as err:
        raise OutputError(f"{path}: cannot write: {err.strerror or err}") from None
    tmp = Path(fh.name)
    try:
        with fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, default_file_mode())
        _publish(tmp, path, overwrite)
    except (OSError, ValueError) as err:  # Pillow raises ValueError for what it cannot encode
        reason = err.strerror if isinstance(err, OSError) and err.strerror else one_line(err)
        raise OutputError(f"{path}: cannot write: {reason}") from err
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        _fsync_dir(path.parent)


def check_replaceable(path: Path | str) -> None:
    """OutputError when ``path`` is a file that is read-only, or that this user could not
    write in place: a rename replaces it all the same (only its folder's permissions count),
    so this is where a file someone protected is left as it is."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if stat.S_ISREG(st.st_mode) and (not st.st_mode & 0o222 or not os.access(path, os.W_OK)):
        raise OutputError(f"{path}: read-only; left as it is (make it writable to update it)")


def check_writable(path: Path | str) -> None:
    """OutputError when ``path`` could not be written now: read-only (see
    :func:`check_replaceable`), or its folder (or the nearest one that exists) refuses new
    files. For a file written much later (a review's), so that a run does not fail at its end."""
    check_replaceable(path)
    folder = Path(path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: cannot write: {folder} does not take new files")


def atomic_write(
    path: Path | str,
    write: Callable[[IO[bytes]], object],
    *,
    overwrite: bool = True,
    durable: bool = False,
) -> Path:
    """Write ``path`` with ``write(file)`` through :func:`atomic_open`; returns ``path``."""
    with atomic_open(path, "wb", overwrite=overwrite, durable=durable) as fh:
        write(fh)
    return Path(path)
