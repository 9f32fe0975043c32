"""Readers that turn FCDB, GAICD and plain photo folders into one record type.

Every reader returns a :class:`DatasetRead`: the usable samples plus one-line problem reports
(``"<name>: <problem>"``) for what was skipped, so one bad entry never aborts a whole dataset.
Only an unusable folder or annotation file raises :class:`~sacrop_cli.errors.DatasetError`.

Coordinates: boxes are ``x1, y1, x2, y2`` with exclusive ends, converted here from each format
(FCDB ``[x, y, w, h]``, GAICD JSON ``[x1, y1, x2, y2]``, GAICD txt ``y1 x1 y2 x2 MOS``) and
clipped to the image. Both datasets annotate the pixels of the file as stored. None of the 1,335
FCDB training photos nor the 5 GAICD sample photos carries EXIF data at all (no Orientation tag),
so stored pixels are the upright pixels the rest of sacrop uses. Should a copy of a labelled image
carry an Orientation other than 1, the sample is kept and a problem line says so, because its
annotations then no longer match what an EXIF-aware viewer shows. ``size`` is always the stored
``(width, height)``, read from the header without decoding the pixels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, TypeVar

import numpy as np
from PIL import Image, UnidentifiedImageError

from sacrop_cli.boxes import clip_boxes
from sacrop_cli.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})
GAICD_SPLITS = ("train", "test")
# Boxes may overrun the image by a few pixels through annotation-tool rounding (16 FCDB crops
# overrun by 1-2 px); clip those silently and mention larger overruns, which hint at a mismatch
# between annotations and image resolution.
CLIP_SLACK_PX = 4
_EXIF_ORIENTATION = 0x0112
_UNRATED_MOS = -2.0  # GAICD's marker for crops nobody rated

T = TypeVar("T")


@dataclass
class LabelledImage:
    """One image and whatever labels its dataset provides (shapes fixed, possibly empty)."""

    path: Path
    name: str
    size: tuple[int, int]
    crops: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    mos: np.ndarray | None = None
    best: np.ndarray | None = None
    pair_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2, 4), np.float32))
    pair_votes: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))


@dataclass
class DatasetRead:
    """Result of a reader: usable samples sorted by name, and one line per skipped thing."""

    images: list[LabelledImage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _fit_box(box: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray | None, str | None]:
    """Clip one x1,y1,x2,y2 box; return (box or None when empty, remark or None)."""
    w, h = size
    overrun = float(max(0.0, -box[0], -box[1], box[2] - w, box[3] - h))
    clipped = clip_boxes(box, w, h)
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        where = "outside" if overrun > 0 else "empty"
        return None, f"box {_fmt(box)} is {where} in the {w}x{h} image"
    if overrun > CLIP_SLACK_PX:
        return clipped, f"box {_fmt(box)} runs {overrun:g} px past the {w}x{h} image; clipped"
    return clipped, None


def _fmt(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box.tolist()) + "]"


def _xywh_to_xyxy(xywh: Any) -> np.ndarray:
    x, y, w, h = (float(v) for v in xywh)
    return np.array([x, y, x + w, y + h], np.float32)


# ---------------------------------------------------------------------------------------------
# Shared helpers


def _read_header(path: Path) -> tuple[tuple[int, int] | None, int, str | None]:
    """Return ((width, height) or None, EXIF orientation, problem) without decoding pixels."""
    if not path.is_file():
        return None, 1, "image file not found"
    try:
        with Image.open(path) as im:
            return im.size, int(im.getexif().get(_EXIF_ORIENTATION, 1)), None
    except UnidentifiedImageError:
        return None, 1, "cannot identify image file (not an image?)"
    except PermissionError:
        return None, 1, "permission denied"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        message = " ".join(str(err).split())
        return None, 1, f"cannot read image header ({type(err).__name__}: {message})"


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: annotation file not found") from None
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read annotation file ({err})") from None


def _require_dir(root: Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    return root


def _labelled_header(path: Path, name: str, problems: list[str]) -> tuple[int, int] | None:
    """Read a labelled image's header, reporting a missing/unreadable file or EXIF rotation."""
    size, orientation, problem = _read_header(path)
    if problem:
        problems.append(f"{name}: {problem}")
        return None
    if orientation != 1:
        problems.append(
            f"{name}: EXIF Orientation {orientation}; annotations are taken in stored pixels"
        )
    return size


def _url_name(entry: Any) -> str | None:
    url = entry.get("url") if isinstance(entry, dict) else None
    return url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) and url.strip("/") else None


# ---------------------------------------------------------------------------------------------
# FCDB


def read_fcdb(root: Path, *, annotation: str | None = None) -> DatasetRead:
    """Read an FCDB folder: images (in ``root/images/`` or ``root``), ``cropping_*_set.json``
    (one human best crop per image) and optional ``ranking_annotation.json`` (voted pairs).

    ``annotation`` names the crop file (relative to ``root`` or absolute) when the folder holds
    several. Ranking entries are matched by url basename; those for other images are ignored,
    so the official ranking file covering train and test can sit beside either split.
    """
    root = _require_dir(root)
    crop_file = _fcdb_annotation_file(root, annotation)
    entries = _load_json(crop_file)
    if not isinstance(entries, list):
        raise DatasetError(f"{crop_file}: expected a JSON array of {{url, crop}} entries")
    image_dir = root / "images" if (root / "images").is_dir() else root
    pairs_by_name = _fcdb_rankings(root / "ranking_annotation.json")

    result = DatasetRead()
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        name = _url_name(entry)
        if name is None:
            result.problems.append(f"{crop_file.name}: entry {index} has no url; skipped")
            continue
        if name in seen:
            result.problems.append(f"{name}: listed twice in {crop_file.name}; kept the first")
            continue
        seen.add(name)
        try:
            best_raw = _xywh_to_xyxy(entry["crop"])
        except (KeyError, TypeError, ValueError):
            result.problems.append(f"{name}: crop is not [x, y, w, h]; skipped")
            continue
        path = image_dir / name
        size = _labelled_header(path, name, result.problems)
        if size is None:
            continue
        best, remark = _fit_box(best_raw, size)
        if remark:
            suffix = "" if best is not None else "; skipped"
            result.problems.append(f"{name}: best crop {remark}{suffix}")
        if best is None:
            continue
        pair_boxes, pair_votes = _fcdb_pairs(
            name, pairs_by_name.get(name, []), size, result.problems
        )
        result.images.append(
            LabelledImage(
                path=path,
                name=name,
                size=size,
                best=best,
                pair_boxes=pair_boxes,
                pair_votes=pair_votes,
            )
        )
    result.images.sort(key=lambda item: item.name)
    return result


def fcdb_names(root: Path) -> list[str]:
    """The photo names an FCDB folder's crop file lists, without opening any photo."""
    entries = _load_json(_fcdb_annotation_file(_require_dir(root), None))
    if not isinstance(entries, list):
        raise DatasetError(f"{root}: expected a JSON array of {{url, crop}} entries")
    return [name for name in map(_url_name, entries) if name is not None]


def _fcdb_annotation_file(root: Path, annotation: str | None) -> Path:
    if annotation is not None:
        path = root / annotation
        if not path.is_file():
            raise DatasetError(f"{path}: annotation file not found")
        return path
    matches = sorted(root.glob("cropping_*_set.json"))
    if not matches:
        raise DatasetError(f"{root}: no cropping_*_set.json annotation file")
    if len(matches) > 1:
        listed = ", ".join(m.name for m in matches)
        raise DatasetError(f"{root}: several annotation files ({listed}); choose one")
    return matches[0]


def _fcdb_rankings(path: Path) -> dict[str, list[Any]]:
    """Map image name -> list of pair records; empty when the optional file is absent."""
    if not path.is_file():
        return {}
    data = _load_json(path)
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON array of {{url, crops}} entries")
    out: dict[str, list[Any]] = {}
    for entry in data:
        name = _url_name(entry)
        crops = entry.get("crops") if isinstance(entry, dict) else None
        if name is not None and isinstance(crops, list):
            out.setdefault(name, []).extend(crops)
    return out


def _fcdb_pairs(
    name: str, records: list[Any], size: tuple[int, int], problems: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Convert voted pairs to [P, 2, 4] boxes and [P, 2] votes, dropping unusable pairs."""
    boxes: list[np.ndarray] = []
    votes: list[tuple[int, int]] = []
    for k, rec in enumerate(records):
        try:
            raw = [_xywh_to_xyxy(rec["crop_0"]), _xywh_to_xyxy(rec["crop_1"])]
            vote = (int(rec["vote_for_0"]), int(rec["vote_for_1"]))
        except (KeyError, TypeError, ValueError):
            problems.append(f"{name}: pair {k} is malformed; dropped")
            continue
        fitted = [_fit_box(b, size) for b in raw]
        remarks = [r for _, r in fitted if r]
        if remarks:
            kept = all(b is not None for b, _ in fitted)
            suffix = "" if kept else "; dropped"
            problems.append(f"{name}: pair {k} " + "; ".join(remarks) + suffix)
        if any(b is None for b, _ in fitted):
            continue
        boxes.append(np.stack([b for b, _ in fitted]))
        votes.append(vote)
    if not boxes:
        return np.zeros((0, 2, 4), np.float32), np.zeros((0, 2), np.int64)
    return np.stack(boxes).astype(np.float32), np.array(votes, np.int64)


# ---------------------------------------------------------------------------------------------
# GAICD


def read_gaicd(root: Path, split: str | None) -> DatasetRead:
    """Read GAICD in either layout; ``split`` is "train", "test" or None (all).

    JSON layout (preferred when ``annotations/image_crop.json`` exists): the split comes from
    ``annotations/data_split.json``, images are looked up in ``images/train`` and
    ``images/test``; annotated images that are absent are summarised in one problem line.
    Original layout: ``images/{train,test}/*`` with ``annotations/<stem>.txt`` (or
    ``annotations/txt/<stem>.txt``); the split is the images folder. Crops with MOS -2
    (unrated) are dropped; an image left without crops is skipped with a problem line.
    """
    root = _require_dir(root)
    if split is not None and split not in GAICD_SPLITS:
        raise DatasetError(f"{root}: unknown GAICD split {split!r} (use train, test or all)")
    if (root / "annotations" / "image_crop.json").is_file():
        result = _read_gaicd_json(root, split)
    else:
        result = _read_gaicd_txt(root, split)
    result.images.sort(key=lambda item: item.name)
    return result


def _gaicd_image(
    path: Path, name: str, boxes: np.ndarray, mos: np.ndarray, problems: list[str]
) -> LabelledImage | None:
    """Clip and filter an image's crops; None (with a problem line) when nothing is usable."""
    size = _labelled_header(path, name, problems)
    if size is None:
        return None
    keep_boxes: list[np.ndarray] = []
    keep_mos: list[float] = []
    for box, score in zip(boxes, mos):
        if score == _UNRATED_MOS:
            continue
        fitted, remark = _fit_box(box, size)
        if remark:
            problems.append(f"{name}: crop {remark}" + ("" if fitted is not None else "; skipped"))
        if fitted is not None:
            keep_boxes.append(fitted)
            keep_mos.append(float(score))
    if not keep_boxes:
        problems.append(f"{name}: no usable crops; skipped")
        return None
    return LabelledImage(
        path=path,
        name=name,
        size=size,
        crops=np.stack(keep_boxes).astype(np.float32),
        mos=np.array(keep_mos, np.float32),
    )


def _read_gaicd_json(root: Path, split: str | None) -> DatasetRead:
    ann_path = root / "annotations" / "image_crop.json"
    annotations = _load_json(ann_path)
    if not isinstance(annotations, dict):
        raise DatasetError(f"{ann_path}: expected an object {{name: {{bbox, score}}}}")
    if split is None:
        names = sorted(annotations)
    else:
        split_path = root / "annotations" / "data_split.json"
        splits = _load_json(split_path)
        if not isinstance(splits, dict) or not isinstance(splits.get(split), list):
            raise DatasetError(f"{split_path}: no {split!r} list")
        names = sorted(set(map(str, splits[split])))

    result = DatasetRead()
    absent = 0
    for name in names:
        path = next((p for s in GAICD_SPLITS if (p := root / "images" / s / name).is_file()), None)
        if path is None:
            absent += 1
            continue
        entry = annotations.get(name)
        try:
            boxes = np.asarray(entry["bbox"], np.float32).reshape(-1, 4)
            mos = np.asarray(entry["score"], np.float32).reshape(-1)
        except (KeyError, TypeError, ValueError):
            result.problems.append(
                f"{name}: no usable bbox/score entry in {ann_path.name}; skipped"
            )
            continue
        if len(boxes) != len(mos):
            result.problems.append(
                f"{name}: {len(boxes)} boxes but {len(mos)} scores in {ann_path.name}; skipped"
            )
            continue
        item = _gaicd_image(path, name, boxes, mos, result.problems)
        if item is not None:
            result.images.append(item)
    if absent:
        result.problems.append(f"{ann_path.name}: {absent} annotated images are not in images/")
    return result


def _read_gaicd_txt(root: Path, split: str | None) -> DatasetRead:
    ann_dirs = [root / "annotations", root / "annotations" / "txt"]
    if not any(d.is_dir() and any(d.glob("*.txt")) for d in ann_dirs):
        raise DatasetError(
            f"{root}: no GAICD annotations (annotations/image_crop.json or annotations/*.txt)"
        )
    result = DatasetRead()
    used_stems: set[str] = set()
    for folder in GAICD_SPLITS if split is None else (split,):
        for path in _image_files(root / "images" / folder, recursive=False):
            name = path.name
            used_stems.add(path.stem)
            txt = next((p for d in ann_dirs if (p := d / f"{path.stem}.txt").is_file()), None)
            if txt is None:
                result.problems.append(f"{name}: no annotations/{path.stem}.txt; skipped")
                continue
            parsed = _parse_gaicd_txt(txt, name, result.problems)
            if parsed is None:
                continue
            item = _gaicd_image(path, name, *parsed, result.problems)
            if item is not None:
                result.images.append(item)
    if split is None:
        stems = {p.stem for d in ann_dirs if d.is_dir() for p in d.glob("*.txt")}
        absent = len(stems - used_stems)
        if absent:
            result.problems.append(f"annotations: {absent} annotated images are not in images/")
    return result


def _parse_gaicd_txt(
    txt: Path, name: str, problems: list[str]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Parse ``y1 x1 y2 x2 MOS`` lines into x1,y1,x2,y2 boxes and MOS (bad lines reported)."""
    try:
        lines = txt.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        problems.append(f"{name}: cannot read {txt.name} ({err}); skipped")
        return None
    boxes: list[list[float]] = []
    mos: list[float] = []
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        try:
            y1, x1, y2, x2, score = (float(v) for v in fields)
        except ValueError:
            problems.append(f"{name}: {txt.name} line {number} is not 'y1 x1 y2 x2 MOS'; skipped")
            continue
        boxes.append([x1, y1, x2, y2])
        mos.append(score)
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(mos, np.float32)


# ---------------------------------------------------------------------------------------------
# Unlabelled photos and splitting


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    """Image files (by suffix, any case) under ``folder``, sorted; hidden entries skipped."""
    if not folder.is_dir():
        return []
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        p
        for p in candidates
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def read_unlabelled(root: Path, recursive: bool = True) -> DatasetRead:
    """Every image under ``root`` (sorted by path) as a sample without labels.

    ``name`` is the path relative to ``root`` (the file name for top-level files), so it stays
    unique in nested folders. Hidden files and folders (``.*``, e.g. macOS ``._x.jpg``) are
    ignored; files whose header cannot be read are reported and skipped.
    """
    root = _require_dir(root)
    result = DatasetRead()
    for path in _image_files(root, recursive):
        name = path.relative_to(root).as_posix()
        size, _, problem = _read_header(path)
        if problem:
            result.problems.append(f"{name}: {problem}")
            continue
        result.images.append(LabelledImage(path=path, name=name, size=size))
    return result


def split_items(items: Sequence[T], val_fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Split items (anything with a ``.name``) into (train, val), both sorted by name.

    Items are sorted by name first and then permuted with
    ``numpy.random.default_rng(seed).permutation``, so the same seed and the same names always
    give the same split, whatever order the items arrive in. The validation share is
    ``round(n * val_fraction)``, at least 1 when ``val_fraction > 0`` and at most n - 1, so
    neither side is empty when n >= 2.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    ordered = sorted(items, key=lambda item: item.name)  # type: ignore[attr-defined]
    n = len(ordered)
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    val_idx = set(np.random.default_rng(seed).permutation(n)[:n_val].tolist())
    train = [item for i, item in enumerate(ordered) if i not in val_idx]
    val = [item for i, item in enumerate(ordered) if i in val_idx]
    return train, val
