"""Finding the photos that command-line paths name: files as given, folders walked in order."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

RAW_EXTENSIONS = frozenset(
    {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".raf", ".orf", ".rw2", ".pef", ".srw"}
)
"""Camera RAW files, developed by :mod:`sacrop_cli.io.raw` (named here, where no decoder is
loaded, since scanning folders needs them)."""

SUPPORTED_EXTENSIONS = (
    frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".heic", ".heif"})
    | RAW_EXTENSIONS
)
"""Extensions of the photos found in folders (GIF, HEIC and RAWs are read, not written: see
:func:`sacrop_cli.io.imageio.crop_extension`)."""

#: The tail sacrop gives a photo's crops (``.4x3.1``, ``.any.2``, ``.1.91x1.1`` before the
#: extension; see :func:`sacrop_cli.io.encode.output_name`), repeated for crops of crops.
_CROP_TAIL = re.compile(r"(?:\.(?:any|original|[0-9.]+x[0-9.]+)\.[1-9][0-9]*)+$")
#: The ``-2``, ``-3``... that keeps apart the crops of photos sharing a stem.
_NUMBERED = re.compile(r"-[2-9]$|-[1-9][0-9]+$")


def own_outputs(names: Iterable[str]) -> set[str]:
    """The names among a folder's ``names`` that are sacrop's own outputs rather than photos:
    XMP sidecars, and files named as the crops of a photo of that folder
    (``IMG_1.4x3.1.jpg`` beside ``IMG_1.CR2``, ``IMG_1-2.4x3.1.jpg`` beside ``IMG_1.jpg``), so
    that ``-o`` at the photos' own folder reruns without cropping its crops."""
    names = list(names)
    tails = {n: _CROP_TAIL.search(os.path.splitext(n)[0]) for n in names}
    stems = {
        os.path.splitext(n)[0].casefold()
        for n in names
        if tails[n] is None and os.path.splitext(n)[1].lower() in SUPPORTED_EXTENSIONS
    }
    own = set()
    for name in names:
        stem, ext = os.path.splitext(name)
        tail = tails[name]
        if ext.lower() == ".xmp":
            own.add(name)
        elif tail is not None and ext.lower() in SUPPORTED_EXTENSIONS:
            base = stem[: tail.start()]
            if base.casefold() in stems or _NUMBERED.sub("", base).casefold() in stems:
                own.add(name)
    return own


@dataclass
class InputScan:
    """What the command-line paths expand to.

    ``images`` holds ``(image_path, root)``: ``root`` is the folder given on the command line
    that the image was found under (so outputs can mirror ``image_path.relative_to(root)``), or
    None for a file given directly. ``skipped`` lists files inside folders that are not images
    by extension (or unreadable folders); ``missing`` lists given paths that do not exist;
    ``hidden`` the hidden entries of the folders (not photos, not counted: named at ``-v``);
    ``own`` sacrop's own outputs (:func:`own_outputs`: not photos, not counted, named at
    ``-v``), and ``named`` those of them given directly (not cropped, but never written over:
    the person named them); ``warnings`` the folder links not followed. URIs, for Ray runs, are strings (see
    :func:`sacrop_cli.io.storage.scan_uris`).
    """

    images: list[tuple[Path | str, Path | str | None]] = field(default_factory=list)
    skipped: list[Path | str] = field(default_factory=list)
    missing: list[Path | str] = field(default_factory=list)
    hidden: list[Path | str] = field(default_factory=list)
    own: list[Path | str] = field(default_factory=list)
    named: list[Path | str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def scan_inputs(paths: Sequence[Path | str], recursive: bool = True) -> InputScan:
    """Expand files and folders into images, in a deterministic order.

    Given paths keep their order; folder entries are sorted by name and walked depth first.
    Links are followed, except a link to a folder that contains it or was already searched
    (skipped with a warning: it would crop the parent tree or the same photos again); a linked
    file inside a folder is an image of its own, so the output mirrors the tree. A photo named
    twice (directly, or directly and through its folder) is yielded once, the first time.
    Hidden entries (``.name``) are not photos: metadata such as ``.DS_Store``, AppleDouble
    ``._IMG.jpg`` files or our own temporary files; nor are sacrop's own outputs, in folders or
    given directly (:func:`own_outputs`). Any other file given directly is yielded whatever its
    extension: the loader says clearly if it is not an image.
    """
    scan = InputScan()
    own_in: dict[Path, set[str]] = {}  # folder of a file given directly -> own outputs there
    seen_files: set[str] = set()  # folders resolved, a linked file itself not
    seen_dirs: set[str] = set()

    def walk(folder: Path, root: Path, real: str) -> None:
        seen_dirs.add(real)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            scan.skipped.append(folder)
            return
        own = own_outputs(e.name for e in entries if not e.name.startswith("."))
        for entry in entries:
            path = folder / entry.name
            if entry.name.startswith("."):
                scan.hidden.append(path)
            elif entry.name in own and not entry.is_dir():
                scan.own.append(path)
            elif entry.is_dir():
                if recursive:
                    enter(path, root, real)
            elif entry.is_file() and path.suffix.lower() in SUPPORTED_EXTENSIONS:
                if os.path.join(real, entry.name) not in seen_files:
                    seen_files.add(os.path.join(real, entry.name))
                    scan.images.append((path, root))
            else:  # other extensions, broken symlinks, sockets...
                scan.skipped.append(path)

    def enter(path: Path, root: Path, parent: str) -> None:
        real = os.path.realpath(path)
        if real == parent or parent.startswith(real.rstrip(os.sep) + os.sep):
            scan.warnings.append(f"{path}: skipped: a link to {real}, a folder that contains it")
        elif real in seen_dirs:
            if path.is_symlink():  # else a folder given twice: nothing to say
                scan.warnings.append(
                    f"{path}: skipped: a link to {real}, a folder already searched"
                )
        else:
            walk(path, root, real)

    for given in map(Path, paths):
        if given.is_dir():
            real = os.path.realpath(given)
            if real not in seen_dirs:
                walk(given, given, real)
        elif given.is_file() and _is_own(given, own_in):
            scan.own.append(given)
            scan.named.append(given)
        elif given.is_file():
            key = os.path.join(os.path.realpath(given.parent), given.name)
            if key not in seen_files and os.path.realpath(given) not in seen_files:
                seen_files.update((key, os.path.realpath(given)))
                scan.images.append((given, None))
        elif os.path.lexists(given):  # a FIFO or device: never try to decode it
            scan.skipped.append(given)
        else:
            scan.missing.append(given)
    return scan


def _is_own(given: Path, own_in: dict[Path, set[str]]) -> bool:
    """Whether a file given directly is one of sacrop's own outputs (its folder listed once)."""
    if given.suffix.lower() == ".xmp":
        return True
    if not _CROP_TAIL.search(given.stem):
        return False
    folder = given.parent
    if folder not in own_in:
        try:
            with os.scandir(folder) as it:
                own_in[folder] = own_outputs(e.name for e in it if not e.name.startswith("."))
        except OSError:
            own_in[folder] = set()
    return given.name in own_in[folder]
