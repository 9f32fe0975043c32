"""What a person's reviews teach: the human-voted pairs of the photos they marked done or changed
in ``sacrop review`` (see :mod:`sacrop_cli.record` for the keys).

- a crop changed (another rank picked, or the box drawn): the chosen box beats sacrop's proposed
  rank 1 and every other rank offered;
- a photo marked done with a crop left as proposed: its rank 1 beats the other ranks offered
  (a confirmation).

A changed crop also makes it a peak, not a direction: it beats the boxes :func:`around` it (the
same framing scaled and shifted a little), so a person who picked a tighter crop teaches that
crop, not "tighter still" (``around`` pairs). A losing box that overlaps the winner by IoU >=
:data:`SAME` is left out: the two are the same framing and the pair says nothing. Boxes are
pixels of the upright photo, as recorded. Nothing here decodes a photo: whether a photo is
still there, at its recorded size, is checked where it is opened (:func:`photo_problem`).
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sacrop_cli.boxes import box_iou
from sacrop_cli.errors import SacropError
from sacrop_cli.io.download import sha256_file
from sacrop_cli.record import PhotoRecord, read_records

#: Two boxes overlapping this much are one framing ("rank 1 is what the person chose" too).
SAME = 0.9
#: Fewer reviewed photos than this: the learned taste is noisy (a warning).
FEW = 20
#: Scales (about the centre) and shifts (of the box's side) of the boxes around a chosen one.
SCALES = (0.85, 0.92, 1.08, 1.15)
SHIFT = 0.08
#: Share of the reviewed photos held back to check the learning, unless given apart.
HELD_BACK = 0.2

Box = tuple[int, int, int, int]


class NothingToLearn(SacropError):
    """No photo of the review files was marked done or changed."""


@dataclass(frozen=True)
class Pair:
    """``better`` beats ``worse`` on one photo, for one ratio."""

    ratio: str
    better: Box
    worse: Box
    around: bool = False  # ``worse`` is a box around ``better``, not one a person saw


@dataclass(frozen=True)
class Choice:
    """The crop a person kept for one ratio of a photo: ``changed`` when not sacrop's rank 1."""

    ratio: str
    box: Box
    changed: bool


@dataclass
class ReviewedPhoto:
    """One photo marked done or changed: its pairs and the crops the person kept."""

    source: Path
    size: tuple[int, int]
    pairs: list[Pair]
    choices: list[Choice]


@dataclass
class Reviews:
    """The reviewed photos of some review files and what was said about the files."""

    photos: list[ReviewedPhoto]
    files: list[dict[str, str]]  # {"path", "sha256"} of each file read
    warnings: list[str]

    @property
    def n_pairs(self) -> int:
        return sum(len(p.pairs) for p in self.photos)

    def counts(self) -> dict[str, int]:
        choices = [c for p in self.photos for c in p.choices]
        changed = sum(c.changed for c in choices)
        return {
            "photos": len(self.photos),
            "changed": changed,
            "confirmed": len(choices) - changed,
            "pairs": self.n_pairs,
        }


def _box(value: object) -> Box | None:
    if (
        isinstance(value, (list, tuple))
        and len(value) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        return tuple(int(round(v)) for v in value)  # type: ignore[return-value]
    return None


def _inside(box: Box, size: tuple[int, int]) -> bool:
    return 0 <= box[0] < box[2] <= size[0] and 0 <= box[1] < box[3] <= size[1]


def around(box: Box, size: tuple[int, int]) -> list[Box]:
    """The boxes around ``box`` in a photo of ``size``: it scaled by :data:`SCALES` about its
    centre, then shifted by :data:`SHIFT` of its width left and right and of its height up and
    down; its shape kept, moved back inside the photo (left out if larger), and left out when
    overlapping ``box`` by IoU >= :data:`SAME`."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    shapes = [(cx, cy, w * s, h * s) for s in SCALES]
    shapes += [(cx + d * SHIFT * w, cy, w, h) for d in (-1, 1)]
    shapes += [(cx, cy + d * SHIFT * h, w, h) for d in (-1, 1)]
    out: list[Box] = []
    for mx, my, bw, bh in shapes:
        bw, bh = round(bw), round(bh)
        if not (0 < bw <= size[0] and 0 < bh <= size[1]):
            continue
        left = min(max(round(mx - bw / 2), 0), size[0] - bw)
        top = min(max(round(my - bh / 2), 0), size[1] - bh)
        moved = (left, top, left + bw, top + bh)
        if moved not in out and box_iou(box, moved) < SAME:
            out.append(moved)
    return out


def record_lessons(
    record: PhotoRecord, where: str = ""
) -> tuple[list[Pair], list[Choice], list[str]]:
    """The pairs and choices of one record (none when it was neither done nor changed) and a
    line for each box outside its photo (left out). ``where`` names the record in those lines."""
    size = (record.get("width"), record.get("height"))
    if record.get("status") != "ok" or not all(isinstance(v, int) and v > 0 for v in size):
        return [], [], []
    done = bool(record.get("reviewed"))
    proposals = record.get("proposals") or []
    pairs: list[Pair] = []
    choices: list[Choice] = []
    outside: list[str] = []

    def checked(box: Box | None) -> Box | None:
        if box is not None and not _inside(box, size):  # type: ignore[arg-type]
            outside.append(f"{where}box {list(box)} outside its {size[0]}x{size[1]} photo: ignored")
            return None
        return box

    for crop in record.get("crops") or []:
        changed = crop.get("chosen") in ("rank", "box")
        if not (changed or done):
            continue
        ratio = crop.get("ratio")
        chosen = checked(_box(crop.get("box")))
        if chosen is None:
            continue
        offered = [
            b
            for p in proposals
            if p.get("ratio") == ratio and (b := checked(_box(p.get("box")))) is not None
        ]
        losers = list(offered)
        if changed:
            first = checked(_box((crop.get("proposed") or {}).get("box")))
            losers = ([first] if first is not None else []) + losers
        for worse in dict.fromkeys(losers):
            if box_iou(chosen, worse) < SAME:
                pairs.append(Pair(ratio, chosen, worse))
        if changed:
            pairs.extend(Pair(ratio, chosen, b, around=True) for b in around(chosen, size))
        choices.append(Choice(ratio, chosen, changed))
    return pairs, choices, outside


def read_reviews(paths: Sequence[Path]) -> Reviews:
    """The reviewed photos of review files (a photo in several: its last record); NothingToLearn
    when none was marked done or changed. A record's ``source`` relative to the folder it was
    reviewed from is looked for there, then beside its file."""
    by_photo: dict[str, ReviewedPhoto] = {}
    files, warnings = [], []
    for path in paths:
        path = Path(path)
        files.append({"path": str(path), "sha256": sha256_file(path)})
        for number, record in enumerate(read_records(path), start=1):
            source = _source(record["source"], path)
            pairs, choices, outside = record_lessons(record, f"{path}: line {number}: ")
            warnings.extend(outside)
            if choices:
                size = (record["width"], record["height"])
                by_photo[os.path.realpath(source)] = ReviewedPhoto(source, size, pairs, choices)
    if not by_photo:
        names = ", ".join(str(p) for p in paths)
        raise NothingToLearn(f"{names}: nothing to learn: no photo marked done or changed")
    return Reviews(list(by_photo.values()), files, warnings)


def _source(source: str, file: Path) -> Path:
    path = Path(source)
    if path.is_absolute() or path.exists():
        return path
    beside = file.parent / path
    return beside if beside.exists() else path


def photo_problem(photo: ReviewedPhoto, full_size: tuple[int, int] | None) -> str | None:
    """Why a reviewed photo cannot be learned from (None: it can): ``full_size`` is its size
    now, None when it is missing."""
    if full_size is None:
        return "missing"
    if tuple(full_size) != tuple(photo.size):
        return "size changed"
    return None


def hold_back(
    photos: list[ReviewedPhoto], share: float = HELD_BACK, seed: int = 0
) -> tuple[list[ReviewedPhoto], list[ReviewedPhoto]]:
    """(learn, check): ``share`` of the photos, drawn with ``seed``, kept back to check the
    learning (none of fewer than 5 photos: all are needed)."""
    n_back = int(round(share * len(photos))) if len(photos) >= 5 else 0
    back = set(random.Random(seed).sample(range(len(photos)), n_back))
    return (
        [p for i, p in enumerate(photos) if i not in back],
        [p for i, p in enumerate(photos) if i in back],
    )
