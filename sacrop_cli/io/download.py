"""Fetching a file over HTTP(S), resumable, and checking it by its SHA-256.

Generic transfer code; which files are fetched, from where and into which cache is the weights
registry's business.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from sacrop_cli.errors import DownloadError

_CHUNK = 1 << 20


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file, read in chunks so large checkpoints don't fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) from ``bytes a-b/total`` or ``bytes */total``."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", value or "")
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


@contextlib.contextmanager
def _progress_bar(
    enabled: bool, label: str, total: int | None, done: int
) -> Iterator[Callable[[int], None]]:
    from rich.console import Console

    console = Console(stderr=True)
    if not (enabled and console.is_terminal):  # no bar (nor stray newline) in logs and pipes
        yield lambda n: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total, completed=done)
        yield lambda n: bar.advance(task, n)


def fetch(url: str, part: Path, *, progress: bool, timeout: float) -> None:
    """Fill ``part`` with the body of ``url``, resuming from its current size if it exists."""
    for _attempt in range(2):  # a second pass only after discarding an unusable .part
        start = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
        try:
            response = urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as err:
            if err.code == 416 and start:
                if _parse_content_range(err.headers.get("Content-Range"))[1] == start:
                    return  # the .part is already complete
                part.unlink()  # larger than the file on the server: start over
                continue
            if 400 <= err.code < 500:
                part.unlink(missing_ok=True)
            raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            raise DownloadError(f"{url}: {getattr(err, 'reason', None) or err}") from None
        with response:
            resumed = response.status == 206
            if resumed and _parse_content_range(response.headers.get("Content-Range"))[0] != start:
                part.unlink()  # the server sent some other range: start over
                continue
            offset = start if resumed else 0  # a 200 answer to a Range request restarts
            length = response.headers.get("Content-Length")
            total = offset + int(length) if length and length.isdigit() else None
            received = offset
            with (
                open(part, "ab" if resumed else "wb") as out,
                _progress_bar(progress, part.name[: -len(".part")], total, offset) as advance,
            ):
                try:
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        received += len(chunk)
                        advance(len(chunk))
                except (OSError, http.client.HTTPException) as err:
                    raise DownloadError(
                        f"{url}: transfer interrupted after {received} bytes ({err}); "
                        "rerun to resume"
                    ) from None
            if total is not None and received < total:
                raise DownloadError(
                    f"{url}: connection closed after {received} of {total} bytes; rerun to resume"
                )
            return
    raise DownloadError(f"{url}: the server does not answer range requests consistently")
