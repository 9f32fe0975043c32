"""Small typed schemas for the records read from JSON Lines (manifest records, hints lines,
review records): each kind says once which fields it has and of what type, and a value that
does not fit is one ValueError naming the field (``crops[2].box[1]: not a whole number``)
instead of a KeyError or a TypeError somewhere later.

A check is a function ``check(value, where) -> value`` raising :class:`Invalid`; the builders
below make them. Standard library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any, str], Any]

#: The largest coordinate or size taken (pixels): far beyond any photo, far below overflow.
MAX_PIXEL = 2**31 - 1


class Invalid(ValueError):
    """A value that does not fit its schema; ``str()`` names the field and the problem."""


def _fail(where: str, problem: str) -> Invalid:
    return Invalid(f"{where}: {problem}" if where else problem)


def text(*, max_len: int = 4096, empty: bool = True, pattern: str | None = None) -> Check:
    """A string of at most ``max_len`` characters with no line break (names are made of them),
    matching ``pattern`` when given."""
    compiled = re.compile(pattern) if pattern else None

    def check(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise _fail(where, "not a string")
        if not value and not empty:
            raise _fail(where, "empty")
        if len(value) > max_len:
            raise _fail(where, f"longer than {max_len} characters")
        if "\n" in value or "\r" in value:
            raise _fail(where, "a line break in a string")
        if compiled is not None and not compiled.fullmatch(value):
            raise _fail(where, f"{value!r} is not of the form expected")
        return value

    return check


def whole(lo: int = -MAX_PIXEL, hi: int = MAX_PIXEL) -> Check:
    """An integer from ``lo`` to ``hi`` (a float with no fraction is taken; a bool is not)."""

    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, "not a whole number")
        if isinstance(value, float) and not (math.isfinite(value) and value == int(value)):
            raise _fail(where, f"{value} is not a whole number")
        if not lo <= value <= hi:
            raise _fail(where, f"{int(value)} is not from {lo} to {hi}")
        return int(value)

    return check


def number() -> Check:
    """A finite number (not a bool)."""

    def check(value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, "not a number")
        if not math.isfinite(value):
            raise _fail(where, f"{value} is not a finite number")
        return value

    return check


def anything(value: Any, where: str) -> Any:
    return value


def optional(inner: Check) -> Check:
    """``inner``, or null."""

    def check(value: Any, where: str) -> Any:
        return None if value is None else inner(value, where)

    return check


def either(*checks: Check, what: str) -> Check:
    """The first of ``checks`` the value fits; else ``what`` it should be."""

    def check(value: Any, where: str) -> Any:
        for inner in checks:
            try:
                return inner(value, where)
            except Invalid:
                continue
        raise _fail(where, f"not {what}")

    return check


def list_of(item: Check, *, min_len: int = 0, max_len: int = 10_000) -> Check:
    """A list of ``min_len`` to ``max_len`` items, each checked."""

    def check(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(where, "not a list")
        if not min_len <= len(value) <= max_len:
            size = f"{min_len}" if min_len == max_len else f"{min_len} to {max_len:,}"
            raise _fail(where, f"{len(value):,} items, not {size}")
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    return check


def obj(
    required: Mapping[str, Check],
    optional_fields: Mapping[str, Check] | None = None,
    *,
    others: bool = True,
) -> Check:
    """An object with every ``required`` field and any of ``optional_fields``, each checked;
    other fields are kept as they are when ``others``, else refused by name."""
    known = {**required, **(optional_fields or {})}

    def check(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(where, "not a JSON object")
        missing = [k for k in required if k not in value]
        if missing:
            raise _fail(where, f"no {', '.join(missing)}")
        unknown = sorted(set(value) - set(known))
        if unknown and not others:
            raise _fail(where, f"unknown field(s) {', '.join(unknown)}")
        prefix = f"{where}." if where else ""
        return {k: known[k](v, prefix + k) if k in known else v for k, v in value.items()}

    return check


def validate(value: Any, check: Check) -> Any:
    """``value`` checked (and whole floats made ints) against ``check``; Invalid says why not."""
    return check(value, "")
