"""``--hints FILE``: a person's hints per photo, as JSON Lines, one object per photo::

    {"source": "photos/a.jpg", "keep": [[x1, y1, x2, y2]], "avoid": [...], "focus": [x, y]}

``source`` names the photo as the manifest does (the path as given to ``sacrop crop``, or the
same file by another path, or a path relative to the file's folder); numbers are pixels or
``"%"`` strings (:mod:`sacrop_cli.hints`).
A line that is malformed (see :mod:`sacrop_cli.io.jsonl`; its fields' types are
:data:`sacrop_cli.hints.HINTS_LINE`'s), names no photo of the run, or would bring its photo's
regions over :data:`sacrop_cli.hints.MAX_REGIONS` is one warning and is left out: the others
still steer their photos.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sacrop_cli.hints import Hints
from sacrop_cli.io.jsonl import json_lines
from sacrop_cli.io.storage import is_uri, photo_key


def read_hints_file(path: Path, photos: Iterable[Path | str]) -> tuple[dict[str, Hints], list[str]]:
    """The hints of each of ``photos`` that has a line in ``path`` (keyed by the photo as
    given), and a warning per line left out. Two lines of one photo add up. SacropError when
    the file cannot be read."""
    by_key = {photo_key(str(p)): str(p) for p in photos}
    found: dict[str, Hints] = {}
    warnings = []
    for number, obj, bad in json_lines(path, "hints file"):
        where = f"{path}:{number}"
        if bad is not None:
            warnings.append(f"{where}: {bad}; line ignored")
            continue
        try:
            hints = Hints.from_json(obj)
            source = obj.get("source")
            if not isinstance(source, str) or not source:
                raise ValueError("no source (the photo's path, as in the manifest)")
        except ValueError as err:
            warnings.append(f"{where}: {str(err).splitlines()[0]}; line ignored")
            continue
        photo = by_key.get(photo_key(source))
        if photo is None and not is_uri(source):  # a path relative to the file's folder
            photo = by_key.get(photo_key(str(path.parent / source)))
        if photo is None:
            warnings.append(f"{where}: {source} is not one of the photos to crop; line ignored")
            continue
        try:
            found[photo] = found.get(photo, Hints()).combined(hints)
        except ValueError as err:  # too many regions with the photo's earlier lines
            warnings.append(f"{where}: {source}: {err}; line ignored")
    return found, warnings
