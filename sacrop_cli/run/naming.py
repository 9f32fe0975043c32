"""Where crops go: each photo's output plan, decided from its path alone before it is analysed,
so that the local run and a Ray worker name crops alike, never two photos' crops alike and never
over a source photo.

Layout: ``out_dir / <folder relative to the input root> / <stem>.<ratio>.<rank>.<ext>``, and
``<stem>.xmp`` for a sidecar; photos given directly (not found in a folder) go to the top of
``out_dir``.

What makes a crop's name belong to a photo: photos of one folder whose crops would bear the same
name, compared as a case-insensitive file system does (``a.JPG`` and ``a.jpg``; ``A.jpg`` and
``a.png`` with ``--format jpeg``), are told apart by ``-2``, ``-3``... in the order of their
names, all the folder's photos counted, not only those the run is given: a rerun of one of them
finds its own crops, never a neighbour's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sacrop_cli.io.encode import output_name
from sacrop_cli.io.imageio import crop_extension, known_crop_extension
from sacrop_cli.io.inputs import SUPPORTED_EXTENSIONS
from sacrop_cli.io.storage import is_uri, join
from sacrop_cli.io.xmp import sidecar_name
from sacrop_cli.run.job import FORMAT_EXTENSIONS
from sacrop_cli.search import Crop


@dataclass(frozen=True)
class OutputPlan:
    """Where one photo's crops go, decided from its path alone, before it is analysed, so that
    a worker elsewhere can name them as this run would: ``folder/<stem of name>.<ratio>.<rank>
    <ext>``. ``ext`` is None when only the photo's content tells it (a URI with no known
    extension). ``own`` is the photo's own name when the crops' ``name`` differs from it only
    to keep them apart from a neighbour's crops (``coffee-2.jpg`` beside ``coffee.dng``): a
    sidecar named in full needs no such change."""

    folder: str
    name: str
    ext: str | None
    sub: str = "."  # ``folder`` relative to the output folder, as the manifest records it
    own: str | None = None  # the photo's own file name, for ``--xmp-name full``

    def paths(self, crops: Sequence[Crop], read_from: Path) -> list[str]:
        """One path per crop; ``read_from`` is the file the photo is read from."""
        ext = self.ext or crop_extension(read_from)
        return [
            os.path.join(self.folder, output_name(self.name, c.ratio, c.rank, ext)) for c in crops
        ]

    def sidecar(self, style: str = "stem") -> str:
        """The path of the photo's XMP sidecar: ``folder/<stem of name>.xmp``, or
        ``folder/<own name>.xmp`` for the ``full`` style."""
        name = self.own if style == "full" and self.own else self.name
        return os.path.join(self.folder, sidecar_name(name, style))


def inside(sub: str) -> str:
    """``sub`` as a relative POSIX path without ``.`` or ``..`` parts (``.`` for the folder
    itself); ValueError when it is absolute or its ``..`` lead out of the folder."""
    parts: list[str] = []
    if sub.startswith("/"):
        raise ValueError(f"{sub!r} is not a folder inside the output folder")
    for part in sub.split("/"):
        if part == "..":
            if not parts:
                raise ValueError(f"{sub!r} leads out of the output folder")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts) or "."


class Namer:
    """Output plans for each photo, with ``-2``, ``-3``... when two photos would share a name:
    with ``xmp``, a stem (``IMG_1.CR2`` and ``IMG_1.jpg`` share ``IMG_1.xmp``), else a stem and
    an extension."""

    def __init__(
        self,
        out_dir: Path | str,
        fmt: str | None,
        sources: Iterable[Path | str],
        xmp: bool = False,
        protected: Iterable[Path | str] = (),
    ) -> None:
        self.out_dir, self.fmt, self.xmp = out_dir, fmt, xmp
        self.claimed: set[tuple[str, str, str]] = set()  # folder, stem and ext, casefolded
        self.stems: dict[Path, dict[str, str]] = {}  # source folder -> name -> stem of crops
        self.source_paths: set[Path] = set()
        self.given: dict[Path, list[str]] = {}  # folder -> names of the sources in it
        self.source_ids: set[tuple[int, int]] = set()
        self.by_folder: dict[str, list[str]] = {}  # resolved folder -> its sources, resolved
        self.resolved: dict[str, str] = {}  # output folder -> resolved
        for src in sources:
            if is_uri(src):
                self.by_folder.setdefault(os.path.dirname(src), []).append(src)
                continue
            self.given.setdefault(Path(src).parent, []).append(Path(src).name)
            self._protect(src)
        for src in protected:  # files named on the command line that are not cropped
            self._protect(src)

    def _protect(self, src: Path | str) -> None:
        """Never write over ``src``: a crop whose name it bears is refused."""
        resolved = Path(src).resolve()
        self.source_paths.add(resolved)
        self.by_folder.setdefault(str(resolved.parent), []).append(str(resolved))
        try:
            st = Path(src).stat()
            self.source_ids.add((st.st_dev, st.st_ino))
        except OSError:
            pass

    def extension(self, src: Path | str) -> str | None:
        if self.fmt:
            return FORMAT_EXTENSIONS[self.fmt]

        return known_crop_extension(src) if is_uri(src) else crop_extension(src)

    def _stems(self, folder: Path, names: Iterable[str]) -> dict[str, str]:
        """The stem of each photo's crops in ``folder``: its own, or with ``-2``, ``-3``...
        after the photos whose crops would bear the same name (see the module's docstring)."""
        try:
            with os.scandir(folder) as it:
                found = [
                    e.name
                    for e in it
                    if not e.name.startswith(".")
                    and os.path.splitext(e.name)[1].lower() in SUPPORTED_EXTENSIONS
                ]
        except OSError:
            found = []
        taken: set[tuple[str, str]] = set()
        stems = {}
        for name in sorted({*found, *names}):
            stem, ext = PurePosixPath(name).stem, (self.extension(folder / name) or "").casefold()
            n = 1
            while ((candidate := stem if n == 1 else f"{stem}-{n}").casefold(), ext) in taken:
                n += 1
            taken.add((candidate.casefold(), ext))
            stems[name] = candidate
        return stems

    def plan(self, src: Path | str, root: Path | str | None) -> OutputPlan:
        """The photo's plan; two photos never get the same folder, stem and extension."""
        src_path = PurePosixPath(str(src))  # URIs too: the same parts as their paths
        return self.plan_in(src, str(src_path.parent.relative_to(str(root))) if root else ".")

    def plan_in(self, src: Path | str, sub: str) -> OutputPlan:
        """The photo's plan with its crops in ``sub``, a folder relative to the output folder
        (as a manifest records it); ValueError when ``sub`` would lead out of it."""
        sub = inside(sub)
        src_path = PurePosixPath(str(src))
        folder = join(self.out_dir, sub)
        ext = self.extension(src)
        stem = src_path.stem
        if not is_uri(src):
            parent = Path(src).parent
            if parent not in self.stems:
                self.stems[parent] = self._stems(parent, self.given.get(parent, ()))
            stem = self.stems[parent].get(src_path.name, stem)
        n = 1
        while True:
            name = f"{stem if n == 1 else f'{stem}-{n}'}{src_path.suffix}"
            kind = "" if self.xmp else (ext or "").casefold()  # a sidecar is named by stem alone
            key = (folder.casefold(), PurePosixPath(name).stem.casefold(), kind)
            if key not in self.claimed:
                self.claimed.add(key)
                return OutputPlan(folder, name, ext, sub, src_path.name if n == 1 else None)
            n += 1

    def sources_in_the_way(self, plan: OutputPlan) -> list[str]:
        """The sources (resolved) that could bear the name of one of the plan's crops: all that a
        worker seeing only this photo needs to never write over a source."""
        folder = plan.folder
        if not is_uri(folder):
            if folder not in self.resolved:
                self.resolved[folder] = str(Path(folder).resolve())
            folder = self.resolved[folder]
        stem = PurePosixPath(plan.name).stem + "."
        return [
            src
            for src in self.by_folder.get(folder, ())
            if os.path.basename(src).startswith(stem) and src.endswith(plan.ext or "")
        ]

    def is_source(self, out: Path | str) -> bool:
        out = Path(out)
        if out.resolve() in self.source_paths:
            return True
        try:
            st = out.stat()
        except OSError:
            return False
        return (st.st_dev, st.st_ino) in self.source_ids
