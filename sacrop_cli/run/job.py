"""The crop job: every option of a crop run, one frozen object from the command line (or a
script) through the local run or Ray down to the writers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sacrop_cli.hints import Hints
from sacrop_cli.io.encode import background_colour
from sacrop_cli.io.limits import DEFAULT_MAX_PIXELS
from sacrop_cli.ratios import Ratio, parse_ratio

DEFAULT_OUT_DIR = Path("crops")
STDOUT = "-"
"""``out_dir`` for standard output: one photo's rank-1 crop of the first ratio goes there."""
#: ``--format`` value -> file extension of the crops.
FORMAT_EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "tiff": ".tif"}


def _parsed(ratios: Iterable[str | Ratio] | str | Ratio) -> tuple[Ratio, ...]:
    """The ratios, once per label in the order given; only texts are parsed (the command line
    gives Ratios, parsed at its edge)."""
    if isinstance(ratios, (str, Ratio)):
        ratios = [ratios]
    first: dict[str, Ratio] = {}
    for ratio in ratios:
        parsed = ratio if isinstance(ratio, Ratio) else parse_ratio(ratio)
        first.setdefault(parsed.label, parsed)
    return tuple(first.values())


@dataclass(frozen=True)
class CropJob:
    """What to crop and how to write it.

    ``ratios`` are labels (``"4:3"``, ``"any"``; Ratios and strings are turned into them);
    ``parsed_ratios`` the Ratios they stand for, which the search takes.
    ``format`` is ``jpeg``/``png``/``webp``/``tiff``, or None to keep each photo's own format
    (PNG for GIFs). An existing crop file is left alone unless ``overwrite``; a source photo is
    never written to. ``orient`` turns fixed ratios to each photo's orientation. ``xmp`` also
    writes an XMP sidecar per photo (:mod:`sacrop_cli.io.xmp`); ``xmp_only`` writes the
    sidecars and no crop files (it implies ``xmp``); ``xmp_name`` is how sidecars are named
    (``stem`` or ``full``: :func:`sacrop_cli.io.xmp.sidecar_name`). ``hints`` steer every
    photo's crops; ``photo_hints`` add a photo's own (by its path as given, the manifest's
    ``source``), as a hints file does.
    ``background`` (a colour name or ``#rrggbb``) fills the transparent pixels of crops
    written to a format without alpha (JPEG).
    """

    ratios: tuple[str, ...] = ("any",)
    top_k: int = 1
    out_dir: Path | str = DEFAULT_OUT_DIR
    orient: bool = False
    dry_run: bool = False
    overwrite: bool = False
    format: str | None = None
    quality: int = 95
    max_size: tuple[int, int] | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    batch_size: int = 8
    xmp: bool = False
    xmp_only: bool = False
    xmp_name: str = "stem"
    hints: Hints = Hints()
    photo_hints: Mapping[str, Hints] = field(default_factory=dict, hash=False)
    background: str = "white"
    parsed_ratios: tuple[Ratio, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed_ratios", _parsed(self.ratios))
        object.__setattr__(self, "ratios", tuple(r.label for r in self.parsed_ratios))
        if self.xmp_only:
            object.__setattr__(self, "xmp", True)
        if self.format is not None and self.format not in FORMAT_EXTENSIONS:
            raise ValueError(
                f"format must be one of {sorted(FORMAT_EXTENSIONS)}, not {self.format!r}"
            )
        if self.out_dir is None:
            object.__setattr__(self, "out_dir", DEFAULT_OUT_DIR)
        if self.max_pixels is None:
            object.__setattr__(self, "max_pixels", DEFAULT_MAX_PIXELS)
        background_colour(self.background)  # ValueError now, not at every photo

    @property
    def stem_sidecars(self) -> bool:
        """Whether sidecars are named by stem alone, so that two photos of one stem would
        share one (``IMG_1.CR2`` and ``IMG_1.jpg``): the namer tells them apart."""
        return self.xmp and self.xmp_name == "stem"

    @property
    def to_stdout(self) -> bool:
        return str(self.out_dir) == STDOUT

    def hints_for(self, source: Path | str) -> Hints:
        """The hints of one photo: the job's, and its own line of a hints file."""
        return self.hints.combined(self.photo_hints.get(str(source)))

    def save_options(self) -> dict[str, Any]:
        """The keywords of :func:`sacrop_cli.io.encode.save_crop` this job writes with."""
        return {
            "format": self.format,
            "quality": self.quality,
            "max_size": self.max_size,
            "overwrite": self.overwrite,
            "background": self.background,
        }
