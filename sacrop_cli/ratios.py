"""Requested aspect ratios: ``W:H``, ``any`` or ``original``.

Apart from :mod:`sacrop_cli.candidates` (which needs numpy) so that the command line can parse
``--ratio`` without importing numpy: ``sacrop --help`` must start fast.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Ratio:
    """A requested aspect ratio: ``W:H``, ``any`` (free ratio) or ``original``."""

    kind: str  # "fixed", "any" or "original"
    w: int = 0
    h: int = 0

    @property
    def label(self) -> str:
        return f"{self.w}:{self.h}" if self.kind == "fixed" else self.kind

    @property
    def slug(self) -> str:
        """The ratio as it appears in output file names (``4:3`` -> ``4x3``)."""
        return self.label.replace(":", "x")

    def __str__(self) -> str:
        return self.label


_RATIO_RE = re.compile(r"^\s*(\d+)\s*[:x/]\s*(\d+)\s*$")


def parse_ratio(text: str) -> Ratio:
    """Parse ``4:3`` (also ``4x3``, ``4/3``), ``any`` or ``original``; ValueError explains why not."""
    low = text.strip().lower()
    if low in ("any", "free"):
        return Ratio("any")
    if low in ("original", "orig"):
        return Ratio("original")
    match = _RATIO_RE.match(low)
    if not match:
        raise ValueError(
            f"{text!r} is not a ratio: use W:H with positive integers (e.g. 4:3, 16:9), "
            "'any' or 'original'"
        )
    w, h = int(match.group(1)), int(match.group(2))
    if w <= 0 or h <= 0:
        raise ValueError(f"{text!r}: both sides of a ratio must be positive integers")
    if max(w / h, h / w) > 100:
        raise ValueError(f"{text!r}: ratios beyond 100:1 are not supported")
    g = math.gcd(w, h)
    return Ratio("fixed", w // g, h // g)
