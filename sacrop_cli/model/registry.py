"""The weights registry: which weights sacrop knows, where they are, downloaded and checked.

Shipped weights are looked up next to the source tree and in a wheel's data_files location;
anything downloaded goes to a per-user cache. Inspecting what a file holds is
:mod:`sacrop_cli.model.inspect`.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
import urllib.parse
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sacrop_cli.errors import CheckpointError, DownloadError
from sacrop_cli.io.download import fetch, sha256_file

DEFAULT_WEIGHTS = "sacrop-fcdb-v2"


#: The files of a model: the ONNX graph ``sacrop crop`` runs, the torch checkpoint that
#: ``sacrop train`` writes and ``sacrop weights export`` turns into the graph, and the graph's
#: int8 version (``--precision int8``, made by ``sacrop weights export --int8``).
KINDS = {"onnx": ".onnx", "torch": ".pt", "int8": ".int8.onnx"}


@dataclass(frozen=True)
class WeightsFile:
    kind: str  # "onnx" or "torch"
    filename: str
    sha256: str | None
    url: str | None = None


@dataclass(frozen=True)
class WeightsEntry:
    name: str
    description: str
    files: tuple[WeightsFile, ...]

    def file(self, kind: str) -> WeightsFile | None:
        return next((f for f in self.files if f.kind == kind), None)


REGISTRY: dict[str, WeightsEntry] = {
    DEFAULT_WEIGHTS: WeightsEntry(
        name=DEFAULT_WEIGHTS,
        description="MobileNetV2 + spatial-aware feature + rank consistency, trained on FCDB",
        files=(
            WeightsFile(
                "onnx",
                "sacrop-fcdb-v2.onnx",
                "8e727fc13c95067437a84f53a19fcc250437f96ed923271eda13f36db7fe0f82",
            ),
            WeightsFile(
                "torch",
                "sacrop-fcdb-v2.pt",
                "e79041a4d81ced3ba72f5f7bb8d07588d47c62c07b4c587c6e9ff2574c02e8b6",
            ),
            WeightsFile(
                "int8",
                "sacrop-fcdb-v2.int8.onnx",
                "2fe38786aff825d5a44df05d344c28ab80b137248faf95432bc530f4f31dd21b",
            ),
        ),
    ),
}


def shipped_weights_dirs() -> list[Path]:
    """Existing folders that may hold weights shipped with sacrop, most specific first.

    The first is the source checkout / editable install; the others are where a wheel's
    ``[options.data_files] share/sacrop/weights`` ends up (prefix, venv, ``pip --user``).
    """
    candidates = [
        Path(__file__).resolve().parents[2] / "weights",
        Path(sysconfig.get_paths()["data"]) / "share" / "sacrop" / "weights",
        Path(sys.prefix) / "share" / "sacrop" / "weights",
        Path(site.getuserbase()) / "share" / "sacrop" / "weights",
    ]
    found: list[Path] = []
    for folder in candidates:
        if folder.is_dir() and folder.resolve() not in found:
            found.append(folder.resolve())
    return found


def cache_dir() -> Path:
    """Per-user cache (``$SACROP_CACHE_DIR`` overrides); created by whoever writes to it."""
    env = os.environ.get("SACROP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("sacrop"))


def _search_dirs() -> list[Path]:
    return [*shipped_weights_dirs(), cache_dir() / "weights"]


def locate(name: str, kind: str = "onnx") -> Path | None:
    """The ``kind`` file of a registered name in the shipped folders, then the cache; None if
    absent."""
    entry = REGISTRY.get(name)
    wanted = entry.file(kind) if entry is not None else None
    if wanted is None:
        return None
    for folder in shipped_weights_dirs():
        if (folder / wanted.filename).is_file():
            return folder / wanted.filename
    cached = cache_dir() / "weights" / wanted.filename  # only now: a lookup that needs platformdirs
    return cached if cached.is_file() else None


def download(
    url: str,
    *,
    sha256: str | None = None,
    dest_dir: Path | None = None,
    filename: str | None = None,
    progress: bool = True,
    timeout: float = 30,
) -> Path:
    """Download ``url`` into ``dest_dir`` (default: the cache) and return the final path.

    The body goes to ``<final>.part`` first, so an interrupted transfer resumes on the next call
    and a half-written file never sits under the final name. The checksum is checked before the
    atomic rename; an existing final file that passes it is returned without any network access.
    """
    name = filename or urllib.parse.unquote(PurePosixPath(urllib.parse.urlparse(url).path).name)
    if not name:
        raise DownloadError(f"{url}: the URL does not end in a file name")
    expected = sha256.lower() if sha256 else None
    dest_dir = Path(dest_dir) if dest_dir is not None else cache_dir() / "weights"
    final = dest_dir / name
    if final.is_file() and (expected is None or sha256_file(final) == expected):
        return final
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"{dest_dir}: cannot create folder ({err.strerror})") from None
    part = final.with_name(name + ".part")
    fetch(url, part, progress=progress, timeout=timeout)
    if expected is not None:
        actual = sha256_file(part)
        if actual != expected:
            part.unlink()
            raise DownloadError(
                f"{url}: SHA-256 mismatch: expected {expected}, got {actual}; the file was removed"
            )
    os.replace(part, final)
    return final


def resolve_weights(
    spec: str | Path | None = None,
    *,
    kind: str = "onnx",
    progress: bool = True,
    allow_download: bool = True,
) -> Path:
    """Turn a URL, registered name or file path into the local ``kind`` file (``onnx``: the
    graph, ``torch``: the checkpoint).

    ``spec`` defaults to ``$SACROP_WEIGHTS``, then ``DEFAULT_WEIGHTS``. A registered file is
    checked against its SHA-256; a URL is downloaded only with the SHA-256 to check it against
    (``URL#sha256=HEX``, pip's form) or marked ``URL#unchecked`` (``--trust``), since the graph
    it brings runs. A file of the other kind stands for its sibling of the same
    name (``model.pt`` for ``model.onnx`` and back). With ``allow_download=False`` only files
    already on disk (or in the cache) are returned.
    """
    spec = str(spec or os.environ.get("SACROP_WEIGHTS") or DEFAULT_WEIGHTS)
    if spec.startswith(("http://", "https://")):
        spec, sha256, unchecked = split_pin(spec)
        if allow_download:
            if sha256 is None and not unchecked:
                raise CheckpointError(
                    f"{spec}: a downloaded model runs only once checked: give --sha256 HEX "
                    f"(in Python: '{spec}#sha256=HEX'), or --trust to run it unchecked"
                )
            return _of_kind(download(spec, sha256=sha256, progress=progress), kind)
        cached = (
            cache_dir()
            / "weights"
            / urllib.parse.unquote(PurePosixPath(urllib.parse.urlparse(spec).path).name)
        )
        if cached.is_file():
            return _of_kind(cached, kind)
        raise CheckpointError(f"{spec}: not downloaded yet (run `sacrop weights download {spec}`)")
    entry = REGISTRY.get(spec)
    if entry is not None:
        wanted = entry.file(kind)
        if wanted is None:
            raise CheckpointError(f"{spec}: has no {kind} file")
        found = locate(spec, kind)
        if found is None and wanted.url is not None:
            if not allow_download:
                raise CheckpointError(
                    f"{spec}: not downloaded yet (run `sacrop weights download {spec}`)"
                )
            found = download(
                wanted.url, sha256=wanted.sha256, filename=wanted.filename, progress=progress
            )
        if found is None:
            searched = ", ".join(str(d) for d in _search_dirs())
            raise CheckpointError(
                f"no trained weights are installed: {wanted.filename} is missing from "
                f"{searched}; reinstall sacrop or pass --weights PATH"
            )
        if wanted.sha256 and (actual := sha256_file(found)) != wanted.sha256:
            raise CheckpointError(
                f"{found}: SHA-256 mismatch: expected {wanted.sha256}, got {actual}; "
                "the file is damaged or was replaced: reinstall sacrop"
            )
        return found
    path = Path(spec).expanduser()
    if path.is_file():
        return _of_kind(path, kind)
    if path.is_dir():
        raise CheckpointError(f"{spec}: is a folder, not a weights file")
    raise CheckpointError(
        f"{spec}: no such weights file or registered name (see `sacrop weights list`)"
    )


def kind_of(path: Path | str) -> str | None:
    """Which file of a model ``path`` is by its name (``int8`` before ``onnx``), or None."""
    name = Path(path).name.lower()
    for kind, suffix in sorted(KINDS.items(), key=lambda item: -len(item[1])):
        if name.endswith(suffix):
            return kind
    return None


def split_pin(url: str) -> tuple[str, str | None, bool]:
    """``URL#sha256=HEX`` or ``URL#unchecked`` as (URL, the SHA-256 or None, unchecked)."""
    base, _, fragment = url.partition("#")
    if fragment.startswith("sha256="):
        return base, fragment.removeprefix("sha256=").lower(), False
    return base, None, fragment == "unchecked"


def pin(url: str, sha256: str | None = None, *, trust: bool = False) -> str:
    """The URL with what checks its download, as :func:`resolve_weights` reads it (and passes
    on to Ray workers, which download it themselves)."""
    base = split_pin(url)[0]
    if sha256:
        return f"{base}#sha256={sha256.lower()}"
    return f"{base}#unchecked" if trust else base


def sibling(path: Path, kind: str) -> Path:
    """Where the ``kind`` file of the model whose other file is ``path`` lives: beside it, with
    the same name (``model.onnx`` for ``model.pt``, ``model.int8.onnx`` for either)."""
    path = Path(path)
    own = kind_of(path)
    stem = path.name[: -len(KINDS[own])] if own else path.stem
    return path.with_name(stem + KINDS[kind])


def _of_kind(path: Path, kind: str) -> Path:
    """``path``, or its sibling of the wanted kind when ``path`` is another file of a model;
    a missing sibling is a one-line error saying how to make it."""
    own = kind_of(path)
    if own is None or own == kind:
        return path
    other = sibling(path, kind)
    if other.is_file():
        return other
    if kind == "int8":
        raise CheckpointError(
            f"{path}: no int8 graph beside it ({other.name}): make one with "
            f"`sacrop weights export {sibling(path, 'torch')} --int8`, or use --precision fp32"
        )
    if kind == "onnx":
        raise CheckpointError(
            f"{path}: no ONNX graph beside it ({other.name}): make one with "
            f"`sacrop weights export {path}`, or use --engine torch"
        )
    raise CheckpointError(
        f"{path}: the torch engine needs the checkpoint {other.name} beside it "
        "(an ONNX graph cannot be turned back into one)"
    )
