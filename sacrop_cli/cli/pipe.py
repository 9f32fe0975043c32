"""``sacrop crop`` in a pipe: ``-`` reads one photo from standard input and ``-o -`` writes its
rank-1 crop of the first ratio to standard output (:class:`sacrop_cli.run.writers.StreamWriter`),
so nothing else may go there: every message is on stderr already."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from sacrop_cli.errors import SacropError

STDIO = "-"
#: The name of standard input's copy: its crops are ``stdin.<ratio>.<rank>.<ext>``, the
#: extension found from the content.
STDIN_NAME = "stdin"
#: How camera RAWs that are not TIFF files begin: Canon CR3 (an ISO box after 4 bytes), Fuji
#: RAF, Olympus ORF, Panasonic RW2. DNG, CR2, NEF, ARW, PEF and SRW are TIFF files.
_RAW_MAGIC = ((4, b"ftypcrx"), (0, b"FUJIFILMCCD-RAW"), (0, b"IIRO"), (0, b"IIRS"), (0, b"IIU\0"))
_TIFF_MAGIC = (b"II*\0", b"MM\0*")


def check(
    paths: tuple[str, ...],
    out_dir: str,
    *,
    as_json: bool,
    refused: dict[str, object],
    refused_with_stdin: dict[str, object],
) -> None:
    """Usage errors for what cannot share standard input or output with the photo: the options
    of ``refused`` (by name: ``{"--ray": ray_address}``) given with ``-`` or ``-o -``, those of
    ``refused_with_stdin`` (which read the photo again) given with ``-``."""
    stdin, stdout = STDIO in paths, out_dir == STDIO
    if stdin and len(paths) > 1:
        raise click.UsageError("- (a photo on standard input) must be the only PATH")
    if stdout and sys.stdout.isatty():  # as gzip refuses to
        raise SacropError(
            "-o -: the crop is not written to a terminal; send standard output to a file or a "
            "program (-o - > crop.jpg)"
        )
    if stdout and as_json:
        raise click.UsageError(
            "-o - writes the crop on standard output: --json and --manifest - cannot go there "
            "too (give --manifest FILE)"
        )
    where = "- and -o -" if stdin and stdout else "-" if stdin else "-o -"
    given = [n for n, v in refused.items() if v and (stdin or stdout)]
    given += [n for n, v in refused_with_stdin.items() if v and stdin]
    if given:
        raise click.UsageError(f"{given[0]} cannot go with {where}")


@contextmanager
def stdin_copy() -> Iterator[Path]:
    """Standard input copied to a temporary file (decoders seek, and RAW readers want a
    name), deleted when the command ends."""
    with tempfile.TemporaryDirectory(prefix="sacrop-") as folder:
        path = Path(folder) / STDIN_NAME
        with open(path, "wb") as copy:
            shutil.copyfileobj(sys.stdin.buffer, copy)
        yield path


def _looks_raw(path: Path) -> bool:
    """Whether a file that could not be read as a photo begins as a camera RAW does (a TIFF
    file Pillow cannot read is one too)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return head[:4] in _TIFF_MAGIC or any(head[at:].startswith(m) for at, m in _RAW_MAGIC)


def as_given(record: dict[str, Any], warnings: list[str], read_from: str) -> list[str]:
    """The record and messages of standard input's copy naming it ``-``, as it was given; a
    camera RAW that could not be read says that RAWs cannot come through a pipe."""
    record["source"] = STDIO
    if record["error"] and _looks_raw(Path(read_from)):
        record["error"] = (
            "-: a camera RAW cannot come through a pipe (sacrop knows RAWs by their file "
            "name's extension): give its file name"
        )
    elif record["error"]:
        record["error"] = record["error"].replace(read_from, STDIO)
    return [w.replace(read_from, STDIO) for w in warnings]
