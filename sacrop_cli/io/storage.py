"""Photos and crops named by URIs (``s3://``, ``gs://``, ``file://``...), for Ray runs: listed,
read and written through pyarrow's file systems, which Ray Data uses too.

Local paths never come here. Nothing heavy is imported at module level: the local pipeline
imports :func:`is_uri` and :func:`join`, and a run without URIs must not load pyarrow.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any

from sacrop_cli.errors import OutputError, SacropError, one_line
from sacrop_cli.io.atomic import exists_error, temp_name, temp_target
from sacrop_cli.io.encode import CropImage, save_crop, write_crop
from sacrop_cli.io.inputs import SUPPORTED_EXTENSIONS, InputScan, scan_inputs
from sacrop_cli.io.photo import Photo
from sacrop_cli.io.xmp import write_sidecar

if TYPE_CHECKING:
    from pyarrow.fs import FileSystem

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")

#: The options of the file systems named so far (``?endpoint_override=...&scheme=http``, as
#: MinIO and Ceph users write them) by the URI they were given with, without its query: they
#: are the file system's, so the names of the photos and crops under that URI stay plain
#: object names, and every file system opened under it gets them (:func:`open_uri`).
_OPTIONS: dict[str, str] = {}


def is_uri(name: Path | str) -> bool:
    """``s3://bucket/key`` and the like; a local path is never one (pathlib folds ``//``)."""
    return isinstance(name, str) and _SCHEME.match(name) is not None


def photo_key(source: Path | str) -> str:
    """What two names of one photo have in common (``a.jpg``, ``x/../a.jpg``, a link to it): a
    URI as it is, a local path resolved."""
    return source if is_uri(source) else os.path.realpath(source)


def plain(uri: str) -> str:
    """``uri`` without its query (its file system's options), which is remembered for every
    URI under it; without a trailing ``/``."""
    base, mark, query = uri.partition("?")
    base = base.rstrip("/") or base
    if mark:
        _OPTIONS[base] = query
    return base


def file_system_options() -> dict[str, str]:
    """The options remembered by :func:`plain`, for another process (a Ray worker) to use."""
    return dict(_OPTIONS)


def use_file_system_options(options: Mapping[str, str]) -> None:
    """Use the options another process remembered (see :func:`file_system_options`)."""
    _OPTIONS.update(options)


def _with_options(uri: str) -> str:
    """``uri`` with the options it was given with or, without, those of the nearest URI it
    lies under that had some."""
    uri = plain(uri)
    for base in sorted(_OPTIONS, key=len, reverse=True):
        if uri == base or uri.startswith(base + "/"):
            return f"{uri}?{_OPTIONS[base]}"
    return uri


def join(base: Path | str, relative: PurePath | str) -> str:
    """``base/relative`` for a folder or a URI, as a string (``.`` is ``base`` itself); a URI's
    query stays with its file system (:func:`plain`)."""
    if not is_uri(base):
        return str(Path(base) / relative)
    base = plain(str(base))
    return base if str(relative) == "." else f"{base}/{relative}"


def open_uri(uri: str) -> tuple[FileSystem, str]:
    """The file system of ``uri`` and the path in it, with the options given with ``uri`` or
    a URI above it; a one-line error when it cannot be used (no pyarrow, a scheme pyarrow was
    built without, no credentials...)."""
    try:
        from pyarrow import fs
    except ImportError:
        raise SacropError(f'{uri}: URIs are read with pyarrow: pip install "sacrop[ray]"') from None
    try:
        return fs.FileSystem.from_uri(_with_options(uri))
    except Exception as err:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ValueError...
        raise SacropError(f"{uri}: cannot open this file system: {one_line(err)}") from None


def _files(uri: str, recursive: bool) -> tuple[list[str], str] | None:
    """The non-hidden files under the folder ``uri``, in the order :func:`scan_inputs` walks
    a folder (names sorted, depth first), and its file-system path; None when ``uri`` is a
    file; raises FileNotFoundError when nothing is there."""
    from pyarrow import fs

    filesystem, path = open_uri(uri)
    kind = filesystem.get_file_info(path).type
    if kind == fs.FileType.NotFound:
        raise FileNotFoundError(uri)
    if kind != fs.FileType.Directory:
        return None
    found = filesystem.get_file_info(fs.FileSelector(path, recursive=recursive))
    top = PurePosixPath(path)
    relative = sorted(
        PurePosixPath(info.path).relative_to(top).parts
        for info in found
        if info.type == fs.FileType.File
    )
    return [
        "/".join(parts) for parts in relative if not any(p.startswith(".") for p in parts)
    ], path


def scan_uris(uris: Sequence[str], recursive: bool = True) -> InputScan:
    """:func:`sacrop_cli.io.inputs.scan_inputs` for URIs (kept as strings): a folder's photos by
    extension, files given directly whatever their name."""
    scan = InputScan()
    for given in uris:
        uri = plain(given)
        try:
            listed = _files(uri, recursive)
        except FileNotFoundError:
            scan.missing.append(given)
            continue
        if listed is None:
            scan.images.append((uri, None))
            continue
        root = uri
        for relative in listed[0]:
            found = f"{root}/{relative}"
            if PurePosixPath(relative).suffix.lower() in SUPPORTED_EXTENSIONS:
                scan.images.append((found, root))
            else:
                scan.skipped.append(found)
    return scan


def scan_sources(sources: Sequence[str], recursive: bool = True) -> InputScan:
    """The photos that paths and URIs name: the paths' first (:func:`scan_inputs`), then the
    URIs'."""
    scan = scan_inputs([s for s in sources if not is_uri(s)], recursive=recursive)
    uris = scan_uris([s for s in sources if is_uri(s)], recursive=recursive)
    scan.images += uris.images
    scan.skipped += uris.skipped
    scan.missing += uris.missing
    return scan


def download(uri: str, local: Path) -> None:
    """Copy the file ``uri`` to ``local``, for the local decoders."""
    import shutil

    filesystem, path = open_uri(uri)
    with filesystem.open_input_stream(path) as source, open(local, "wb") as copy:
        shutil.copyfileobj(source, copy)


def check_out_uri(uri: str) -> None:
    """Fail once, before any work, when the output URI's file system cannot be used."""
    filesystem, path = open_uri(uri)
    try:
        filesystem.create_dir(path, recursive=True)
    except Exception as err:  # noqa: BLE001 - pyarrow's errors for each store differ
        raise OutputError(f"{uri}: cannot use the output folder: {one_line(err)}") from None


class RemoteWriter:
    """Crops under a URI (see :class:`sacrop_cli.run.local.CropWriter`): each is encoded to a
    local temporary file as a local crop is, uploaded to a temporary name beside its final
    one, then moved there, so that it appears whole or not at all (on object stores a move is a
    copy, which creates the object at once)."""

    def __init__(self, out_dir: str, is_source: Callable[[str], bool]) -> None:
        self.out_dir = plain(out_dir)
        self.fs, self.root = open_uri(self.out_dir)
        self.is_source = is_source

    def _path(self, out: str) -> str:
        return self.root.rstrip("/") + out[len(self.out_dir) :]

    def exists(self, out: str) -> bool:
        from pyarrow.fs import FileType

        return self.fs.get_file_info(self._path(out)).type != FileType.NotFound

    def is_whole(self, out: str, size: tuple[int, int] | None = None) -> bool:
        """A crop under a URI is whole when it is a file with content (uploads are moved into
        place whole; reading it back to check would cost a download)."""
        from pyarrow.fs import FileType

        info = self.fs.get_file_info(self._path(out))
        return info.type == FileType.File and bool(info.size)

    def remove_stale_temps(self, outs: Iterable[str]) -> None:
        """Delete the temporary files a killed run left for these outputs."""
        from pyarrow.fs import FileSelector

        wanted = {self._path(out) for out in outs}
        for folder in {str(PurePosixPath(p).parent) for p in wanted}:
            for info in self.fs.get_file_info(FileSelector(folder, allow_not_found=True)):
                name = PurePosixPath(info.path).name
                target = temp_target(name)
                if target is not None and f"{folder}/{target}" in wanted:
                    self.fs.delete_file(info.path)

    def save(self, photo: Photo, box: tuple[int, int, int, int], out: str, **options: Any) -> str:
        overwrite = options.pop("overwrite", False)
        if not overwrite and self.exists(out):
            raise exists_error(out)
        with tempfile.TemporaryDirectory(prefix="sacrop-") as folder:
            name = PurePosixPath(out).name
            self._upload(save_crop(photo, box, Path(folder) / name, overwrite=True, **options), out)
        return out

    def write(self, crop: CropImage, out: str, *, overwrite: bool = False) -> str:
        """A crop the write workers prepared (see :class:`sacrop_cli.run.writers.DecodeAhead`),
        encoded as a local one is, then uploaded."""
        if not overwrite and self.exists(out):
            raise exists_error(out)
        with tempfile.TemporaryDirectory(prefix="sacrop-") as folder:
            name = PurePosixPath(out).name
            self._upload(write_crop(crop, Path(folder) / name, overwrite=True), out)
        return out

    def write_sidecar(self, out: str, **fields: Any) -> str:
        """The sidecar ``out`` written or updated as a local one is, on a downloaded copy."""
        with tempfile.TemporaryDirectory(prefix="sacrop-") as folder:
            local = Path(folder) / PurePosixPath(out).name
            if self.exists(out):
                download(out, local)
            self._upload(write_sidecar(local, **fields), out)
        return out

    def _upload(self, local: Path, out: str) -> None:
        final = self._path(out)
        upload = f"{PurePosixPath(final).parent}/{temp_name(PurePosixPath(final).name)}"
        try:
            with self.fs.open_output_stream(upload) as remote:
                remote.write(local.read_bytes())
            self.fs.move(upload, final)
        except Exception as err:  # noqa: BLE001 - pyarrow's errors for each store differ
            with contextlib.suppress(Exception):  # never uploaded: nothing to delete
                self.fs.delete_file(upload)
            raise OutputError(f"{out}: cannot write: {one_line(err)}") from None
