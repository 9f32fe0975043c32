"""Requested aspect ratios: ``W:H`` (whole or decimal numbers), ``any`` or ``original``.

Apart from :mod:`sacrop_cli.candidates` (which needs numpy) so that the command line can parse
``--ratio`` without importing numpy: ``sacrop --help`` must start fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class Ratio:
    """A requested aspect ratio: ``W:H`` (``w / h`` exactly, in lowest terms), ``any`` (free
    ratio) or ``original``. ``text`` is how a decimal ratio was written (``1.91:1``), kept for
    labels and file names; ratios compare by value."""

    kind: str  # "fixed", "any" or "original"
    w: int = 0
    h: int = 0
    text: str = field(default="", compare=False)

    @property
    def label(self) -> str:
        if self.kind != "fixed":
            return self.kind
        return self.text or f"{self.w}:{self.h}"

    def __str__(self) -> str:
        return self.label

    def oriented(self, width: int, height: int) -> Ratio:
        """This ratio turned to the orientation of a ``width x height`` photo (4:3 becomes 3:4
        on a portrait photo); square ratios and photos, ``any`` and ``original`` stay as they
        are."""
        if self.kind != "fixed" or self.w == self.h or width == height:
            return self
        if (self.w > self.h) == (width > height):
            return self
        text = ":".join(reversed(self.text.split(":"))) if self.text else ""
        return Ratio("fixed", self.h, self.w, text)


_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_RATIO_RE = re.compile(rf"^\s*{_NUMBER}\s*(?:[:x/]\s*{_NUMBER}\s*)?$")


def _plain(number: str) -> str:
    """``1.50`` -> ``1.5``, ``2.0`` -> ``2``, ``.5`` -> ``0.5``."""
    whole, _, decimals = number.partition(".")
    decimals = decimals.rstrip("0")
    return f"{whole or '0'}.{decimals}" if decimals else (whole.lstrip("0") or "0")


def parse_ratio(text: str | tuple[float, float]) -> Ratio:
    """Parse ``4:3`` (also ``4x3``, ``4/3``), a decimal ratio (``1.91:1``, or ``1.5`` for
    ``1.5:1``), ``any`` or ``original``, or a pair of numbers ``(4, 3)``; ValueError says why not.

    The ratio is kept exactly (``1.91:1`` is 191:100), so windows are exact to the nearest
    pixel.
    """
    if isinstance(text, tuple):
        if len(text) != 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in text
        ):
            raise ValueError(f"{text!r} is not a ratio: a pair of numbers (W, H) is")
        text = f"{text[0]}:{text[1]}"
    low = str(text).strip().lower()
    if low in ("any", "free"):
        return Ratio("any")
    if low in ("original", "orig"):
        return Ratio("original")
    match = _RATIO_RE.match(low)
    if not match:
        raise ValueError(
            f"{text!r} is not a ratio: use W:H with positive numbers (e.g. 4:3, 16:9, 1.91:1), "
            "'any' or 'original'"
        )
    first, second = match.group(1), match.group(2) or "1"
    try:
        value = Fraction(first) / Fraction(second)
    except ZeroDivisionError:
        value = Fraction(0)
    if value <= 0:
        raise ValueError(f"{text!r}: both sides of a ratio must be positive")
    if max(value, 1 / value) > 100:
        raise ValueError(f"{text!r}: ratios beyond 100:1 are not supported")
    if value.denominator > 10_000:
        raise ValueError(f"{text!r}: give at most four decimals")
    # decimal ratios keep their written form; whole numbers show in lowest terms (8:6 -> 4:3)
    decimal = "." in first or "." in second or match.group(2) is None
    label = f"{_plain(first)}:{_plain(second)}" if decimal else ""
    return Ratio("fixed", value.numerator, value.denominator, label)
