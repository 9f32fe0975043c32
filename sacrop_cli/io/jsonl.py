"""Reading JSON Lines files (manifests, hints files, a review's FILE): read once, each line decoded
on its own and bounded, so that a bad line (not JSON, not UTF-8, a NUL byte, too long, nested too
deep, a number out of range) is one reason naming it and never stops the file: what to do with
it is the caller's choice (an error, a warning, or ignore it).

What a line holds is checked afterwards against the schema of its kind
(:mod:`sacrop_cli.io.schema`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sacrop_cli.errors import SacropError, one_line

#: The longest line read, in bytes: a record of sacrop's is a few kilobytes, a hints line with
#: :data:`sacrop_cli.hints.MAX_REGIONS` regions well under this.
MAX_LINE_BYTES = 1_000_000
#: The deepest nesting of arrays and objects in a line (a manifest record needs 4).
MAX_DEPTH = 16
#: The most digits of an integer (pixels, ranks: far fewer).
MAX_INT_DIGITS = 15
_OPENERS = re.compile(rb"[\[{]")
_READ_CHUNK = 1 << 16


class BadLine(ValueError):
    """A line that is not a bounded JSON value; ``str()`` says why in a few words."""


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise BadLine(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadLine(f"the number {text[:20]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise BadLine(f"{name} is not a JSON number")


def _depth(line: bytes) -> int:
    """How deep arrays and objects nest in ``line`` (brackets inside strings not counted)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _check_strings(value: Any) -> None:
    """No NUL and no lone surrogate (``\\u0000``, ``\\ud800`` escapes) in any string: both break
    file names and the files written later."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise BadLine("a NUL character in a string")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise BadLine("a string that is not valid Unicode (a lone surrogate)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_line(line: bytes) -> Any:
    """One JSON value of a line, bounded as the module says; BadLine says why not."""
    if len(line) > MAX_LINE_BYTES:
        raise BadLine(f"a line over {MAX_LINE_BYTES:,} bytes")
    if b"\x00" in line:
        raise BadLine("a NUL byte")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadLine(f"not UTF-8 text (byte 0x{line[err.start]:02x} at column {err.start + 1})")
    if len(_OPENERS.findall(line)) > MAX_DEPTH and _depth(line) > MAX_DEPTH:
        raise BadLine(f"arrays or objects nested more than {MAX_DEPTH} deep")
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except BadLine:
        raise
    except (ValueError, RecursionError) as err:
        raise BadLine(f"not JSON ({one_line(err)})") from None
    _check_strings(value)
    return value


def _lines(fh: IO[bytes]) -> Iterator[bytes]:
    """The file's lines without their end, each read at most :data:`MAX_LINE_BYTES` + 1 bytes
    long: the rest of a longer line is skipped, never held."""
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := fh.readline(_READ_CHUNK)) and not rest.endswith(b"\n"):
                pass
        yield line.rstrip(b"\r\n") if line.endswith(b"\n") else line


def json_lines(path: Path | str, what: str) -> Iterator[tuple[int, Any, str | None]]:
    """``(number, value, None)`` for each non-blank line that is a bounded JSON value,
    ``(number, None, why)`` for one that is not. SacropError (``{path}: cannot read the {what}:
    reason``) when the file cannot be read at all."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; errors while reading named too
    except OSError as err:
        raise SacropError(f"{path}: cannot read the {what}: {err.strerror or err}") from None
    with fh:
        try:
            for number, line in enumerate(_lines(fh), start=1):
                if number == 1 and line.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark
                    line = line[3:]
                if not line.strip():
                    continue
                try:
                    yield number, parse_line(line), None
                except BadLine as err:
                    yield number, None, str(err)
        except OSError as err:
            raise SacropError(f"{path}: cannot read the {what}: {err.strerror or err}") from None
