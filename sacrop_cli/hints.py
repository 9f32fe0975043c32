"""A person's hints to the crop search: regions to keep whole, regions to leave out, a point to
hold (``--keep``, ``--avoid``, ``--focus``, a line of ``--hints FILE``, ``Cropper.crop(keep=...)``).

Numbers are pixels of the upright photo, or percentages of its width (x) and height (y) when
written with ``%``, so that one hint serves a folder of photos of different sizes; they become
pixels per photo in :meth:`Hints.in_pixels`. No numpy here: the command line parses hints
before any heavy module is loaded. The rules they make are in :mod:`sacrop_cli.constraints`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Union

from sacrop_cli.io import schema as S


@dataclass(frozen=True)
class Coord:
    """A coordinate: ``value`` pixels, or ``value`` percent of the photo's side."""

    value: float
    percent: bool = False

    def pixels(self, side: int) -> float:
        return self.value * side / 100 if self.percent else self.value

    def __str__(self) -> str:
        return f"{self.value:g}{'%' if self.percent else ''}"


Region = tuple[Coord, Coord, Coord, Coord]
Point = tuple[Coord, Coord]
#: What the API and the hints file take for a number, a region or a point.
Number = Union[int, float, str, Coord]
RegionLike = Union[str, Sequence[Number]]


def parse_coord(value: Number) -> Coord:
    """``12``, ``12.5``, ``"12"`` (pixels) or ``"12%"`` (percent); ValueError says why not."""
    if isinstance(value, Coord):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{value!r} is not a number")
    text = str(value).strip()
    percent = text.endswith("%")
    try:
        number = float(text[:-1] if percent else text)
    except ValueError:
        raise ValueError(f"{value!r} is not a number of pixels or a percentage") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r}: coordinates are finite and not negative")
    if percent and number > 100:
        raise ValueError(f"{value!r}: a percentage is at most 100%")
    return Coord(number, percent)


def _items(value: RegionLike, count: int, what: str) -> list[Coord]:
    items = value.replace(" ", "").split(",") if isinstance(value, str) else list(value)
    if len(items) != count:
        raise ValueError(f"{_shown(value)}: {what}")
    return [parse_coord(v) for v in items]


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else ",".join(str(v) for v in value)


def parse_region(value: RegionLike) -> Region:
    """``"x1,y1,x2,y2"`` or four numbers; each a pixel or a ``%`` of the photo's side."""
    x1, y1, x2, y2 = _items(value, 4, "a region is four numbers x1,y1,x2,y2")
    for a, b in ((x1, x2), (y1, y2)):
        if a.percent == b.percent and a.value >= b.value:
            raise ValueError(f"{_shown(value)}: a region's x2 and y2 exceed its x1 and y1")
    return (x1, y1, x2, y2)


def parse_point(value: RegionLike) -> Point:
    """``"x,y"`` or two numbers; each a pixel or a ``%`` of the photo's side."""
    x, y = _items(value, 2, "a point is two numbers x,y")
    return (x, y)


def _regions(value: RegionLike | Iterable[RegionLike] | None) -> tuple[Region, ...]:
    """One region or several (a string, four numbers, or a list of either)."""
    if value is None:
        return ()
    if isinstance(value, str) or (
        isinstance(value, (list, tuple))
        and len(value) == 4
        and all(isinstance(v, (int, float, str, Coord)) and "," not in str(v) for v in value)
    ):
        value = [value]  # type: ignore[list-item]
    return tuple(parse_region(v) for v in value)  # type: ignore[union-attr]


#: The most regions (keep and avoid together) one photo's hints hold: each is a rule every
#: candidate of the search is checked against, so the work grows with their number.
MAX_REGIONS = 1000
_COORD = S.either(S.number(), S.text(max_len=32), what="a number or a percentage")
_REGION = S.either(
    S.text(max_len=200),
    S.list_of(_COORD, min_len=4, max_len=4),
    what="a region [x1, y1, x2, y2]",
)
_POINT = S.either(
    S.text(max_len=100), S.list_of(_COORD, min_len=2, max_len=2), what="a point [x, y]"
)
#: A line of a hints file (see :mod:`sacrop_cli.run.hints_file`).
HINTS_LINE = S.obj(
    {},
    {
        "source": S.text(empty=False),
        "keep": S.list_of(_REGION, max_len=MAX_REGIONS),
        "avoid": S.list_of(_REGION, max_len=MAX_REGIONS),
        "focus": _POINT,
    },
    others=False,
)


@dataclass(frozen=True)
class PixelHints:
    """Hints in pixels of one photo, clipped to it: regions ``(x1, y1, x2, y2)``, a point."""

    keep: tuple[tuple[float, float, float, float], ...] = ()
    avoid: tuple[tuple[float, float, float, float], ...] = ()
    focus: tuple[float, float] | None = None


@dataclass(frozen=True)
class Hints:
    """What a person asked of one photo's crops (or of every photo's): ``keep`` regions held
    whole, ``avoid`` regions left out, a ``focus`` point held."""

    keep: tuple[Region, ...] = ()
    avoid: tuple[Region, ...] = ()
    focus: Point | None = None

    def __post_init__(self) -> None:
        if len(self.keep) + len(self.avoid) > MAX_REGIONS:
            raise ValueError(
                f"{len(self.keep) + len(self.avoid):,} keep and avoid regions for a photo, more "
                f"than the {MAX_REGIONS:,} it takes"
            )

    def __bool__(self) -> bool:
        return bool(self.keep or self.avoid or self.focus)

    @classmethod
    def of(
        cls,
        keep: RegionLike | Iterable[RegionLike] | None = None,
        avoid: RegionLike | Iterable[RegionLike] | None = None,
        focus: RegionLike | None = None,
    ) -> Hints:
        """Hints from strings or numbers (``keep="10%,20%,40%,60%"``, ``focus=(320, 200)``,
        ``avoid=[(0, 0, 100, 80), "90%,90%,100%,100%"]``); ValueError says what is wrong."""
        return cls(_regions(keep), _regions(avoid), parse_point(focus) if focus else None)

    @classmethod
    def from_json(cls, obj: Any) -> Hints:
        """A line of a hints file (its ``source`` aside); ValueError says what is wrong."""
        if not isinstance(obj, dict):
            raise ValueError("not a JSON object")
        unknown = set(obj) - {"source", "keep", "avoid", "focus"}
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
        for key in ("keep", "avoid"):
            if not isinstance(obj.get(key, []), list):
                raise ValueError(f"{key} is a list of regions [x1, y1, x2, y2]")
            if any(isinstance(v, (int, float)) for v in obj.get(key, [])):
                raise ValueError(f"{key} is a list of regions: [[x1, y1, x2, y2]]")
        S.validate(obj, HINTS_LINE)
        return cls.of(obj.get("keep"), obj.get("avoid"), obj.get("focus"))

    def combined(self, other: Hints | None) -> Hints:
        """These hints and ``other``'s (a photo's own line of a hints file): the regions of
        both; ``other``'s focus, when it has one, replaces this one."""
        if not other:
            return self
        return Hints(self.keep + other.keep, self.avoid + other.avoid, other.focus or self.focus)

    def in_pixels(self, width: int, height: int) -> PixelHints:
        """The hints in pixels of a ``width x height`` upright photo, clipped to it; ValueError
        when a region or the point lies outside the photo."""

        def region(r: Region, what: str) -> tuple[float, float, float, float]:
            x1, y1, x2, y2 = (c.pixels(width if i % 2 == 0 else height) for i, c in enumerate(r))
            x1, x2 = min(max(x1, 0), width), min(max(x2, 0), width)
            y1, y2 = min(max(y1, 0), height), min(max(y2, 0), height)
            if x2 <= x1 or y2 <= y1:
                raise ValueError(
                    f"the {what} region {','.join(map(str, r))} is outside the "
                    f"{width}x{height} photo or empty"
                )
            return (x1, y1, x2, y2)

        focus = None
        if self.focus is not None:
            fx, fy = self.focus[0].pixels(width), self.focus[1].pixels(height)
            if not (0 <= fx <= width and 0 <= fy <= height):
                raise ValueError(
                    f"the focus point {self.focus[0]},{self.focus[1]} is outside the "
                    f"{width}x{height} photo"
                )
            focus = (fx, fy)
        return PixelHints(
            tuple(region(r, "keep") for r in self.keep),
            tuple(region(r, "avoid") for r in self.avoid),
            focus,
        )
