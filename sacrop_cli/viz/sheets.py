"""Preview sheets: every photo of a run, small, with its chosen crops drawn on it.

Built from the pipeline's manifest records alone (boxes are upright full-resolution pixels), so a
sheet can be made for a ``--dry-run`` or from a saved manifest. Each source is decoded once more
at reduced size (JPEG draft) after the run: simpler than threading thumbnails through the
pipeline, and cheap next to the full decode that writing the crops needs.

Two renderings share the layout ideas: the photo, its top crops as coloured rectangles labelled
``ratio #rank score`` (one colour per ratio, rank 1 drawn thicker), and the crops beside it.

- HTML: one self-contained file (JPEG thumbnails as ``data:`` URIs, quality 80) that scales to
  hundreds of photos. Boxes are absolutely positioned ``<div>``s in percent of the photo, so
  labels size themselves to their text and follow the thumbnail at any display size. Photos
  come in pages of :data:`PAGE_SIZE` (``<section id="page-N">``); CSS ``:target`` shows one
  page at a time without scripts (a browser without CSS ``:has`` also keeps page 1 shown),
  and images carry ``loading="lazy"``, so a browser only decodes the page on screen. The file
  is written as it is built: memory holds one thumbnail at a time. Every input has an
  ``<article>`` with ``data-source``/``data-status``/
  ``data-error``; every crop has ``data-ratio``/``data-rank``/``data-box``/``data-score``.
- PNG: one image (at most :data:`MAX_PNG_PHOTOS` rows, since it is held in memory), or one
  image per photo for ``--preview-dir``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from sacrop_cli.io.atomic import atomic_write
from sacrop_cli.record import PhotoRecord
from sacrop_cli.viz.sheet_html import write_html
from sacrop_cli.viz.sheet_layout import (
    MAX_PNG_PHOTOS,
    SHEET_EXTENSIONS,
    ThumbnailFn,
    photos_of,
    thumbnail_loader,
)
from sacrop_cli.viz.sheet_png import render_png, save_png

#: The sheets' public face: what the CLI and scripts call.
__all__ = [
    "preview_names",
    "render_png",
    "thumbnail_loader",
    "write_html",
    "write_preview",
    "write_preview_dir",
]


def write_preview(records: Sequence[PhotoRecord], path: Path, thumbnail: ThumbnailFn) -> list[str]:
    """Write the sheet to ``path`` (``.html``/``.htm`` or ``.png``, atomically); return warnings."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SHEET_EXTENSIONS:
        raise ValueError(f"{path}: a preview sheet must end in .html or .png")
    if suffix == ".png":
        sheet = render_png(records, thumbnail)
        atomic_write(path, lambda fh: save_png(sheet, fh))
        if (photos := len(photos_of(records)[0])) > MAX_PNG_PHOTOS:
            return [
                f"{path}: the PNG sheet shows the first {MAX_PNG_PHOTOS} of {photos} "
                "photos; use an .html sheet or --preview-dir for all of them"
            ]
        return []

    def write(fh: IO[bytes]) -> None:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="\n")
        write_html(records, text, thumbnail)
        text.flush()
        text.detach()

    atomic_write(path, write)
    return []


def preview_names(records: Sequence[PhotoRecord]) -> list[Path]:
    """Relative ``<stem>.preview.png`` paths, one per record, mirroring the sources' folders
    below their common ancestor (``-2``, ``-3``... when two sources share a stem)."""
    sources = [Path(os.path.abspath(r["source"])) for r in records]
    if not sources:
        return []
    common = Path(os.path.commonpath([str(s.parent) for s in sources]))
    names: list[Path] = []
    taken: set[Path] = set()
    for src in sources:
        folder, n = src.parent.relative_to(common), 1
        while (name := folder / f"{src.stem}{'' if n == 1 else f'-{n}'}.preview.png") in taken:
            n += 1
        taken.add(name)
        names.append(name)
    return names


def write_preview_dir(
    records: Sequence[PhotoRecord], folder: Path, thumbnail: ThumbnailFn
) -> list[Path]:
    """One PNG per photo's record (failed ones show their error; skipped inputs, not photos,
    get none) under ``folder``; returns the paths."""
    records = photos_of(records)[0]
    written = []
    for index, (record, name) in enumerate(zip(records, preview_names(records)), start=1):
        image = render_png([record], thumbnail, title=None, start=index)
        written.append(atomic_write(Path(folder) / name, lambda fh: image.save(fh, "PNG")))
    return written
