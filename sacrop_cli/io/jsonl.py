"""Reading JSON Lines files (manifests, hints files): read once, each line decoded on its own,
so that what to do with a bad line is the caller's choice (an error, a warning, or ignore it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sacrop_cli.errors import SacropError


def json_lines(path: Path | str, what: str) -> Iterator[tuple[int, Any, str | None]]:
    """``(number, value, None)`` for each non-blank line that is JSON, ``(number, None, why)``
    for one that is not. SacropError (``{path}: cannot read the {what}: reason``) when the file
    cannot be read at all."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        raise SacropError(f"{path}: cannot read the {what}: {reason}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), None
        except json.JSONDecodeError as err:
            yield number, None, str(err)
