"""The Python API: ``Cropper`` finds and scores crops; the CLI is a thin layer over it.

>>> from sacrop_cli import Cropper
>>> cropper = Cropper()                       # shipped weights, ONNX Runtime on the CPU
>>> cropper.crop("examples/wine.jpg", ratios=["4:3"], top_k=2)
[Crop(ratio='4:3', rank=1, box=(...), score=...), ...]

Boxes are integer pixels of the upright photo (EXIF orientation applied), x2/y2 exclusive.
What runs the network is an :class:`~sacrop_cli.engine.Engine`; nothing here knows which.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from sacrop_cli.candidates import alternatives, candidates_for, neighbours
from sacrop_cli.constraints import SUBJECT_STEP, CropRules, note, subject_box
from sacrop_cli.engine import Engine, load_engine
from sacrop_cli.faces import FaceDetector
from sacrop_cli.preprocess import boxes_to_rois, image_to_array, input_size, resize_to
from sacrop_cli.ratios import Ratio, parse_ratio

if TYPE_CHECKING:
    from sacrop_cli.imageio import Photo

#: At most this many refinement steps per top crop (see :meth:`Encoded.best_crops`).
REFINE_ROUNDS = 3
#: With ``any``, the whole photo is the best crop when it scores this much above the best
#: candidate (normalised MOS units). The network prefers large crops and FCDB's human crops are
#: never the whole photo, so offered plainly it would win a third of the time; with this margin
#: it wins when it clearly does (see the README).
WHOLE_PHOTO_MARGIN = 0.2


@dataclass(frozen=True)
class Crop:
    ratio: str
    rank: int
    box: tuple[int, int, int, int]
    score: float
    #: Why a face rule could not be met by any window of the ratio (see ``constraints``).
    note: str | None = None


@dataclass(frozen=True)
class CroppedImage:
    """A crop of a photo at full resolution, and how to save it with the photo's metadata."""

    crop: Crop
    photo: Photo

    @property
    def image(self) -> Image.Image:
        """The cropped pixels (upright); ``save`` keeps EXIF, ICC and XMP, this alone does not."""
        return self.photo.image.crop(self.crop.box)

    def save(
        self,
        path: str | Path,
        *,
        format: str | None = None,  # noqa: A002 - Pillow's name
        quality: int = 95,
        max_size: tuple[int, int] | None = None,
        overwrite: bool = False,
    ) -> Path:
        """Write the crop as ``sacrop crop`` does: EXIF (orientation reset, crop size), ICC
        profile and XMP kept, written whole or not at all, an existing file kept unless
        ``overwrite``."""
        from sacrop_cli.imageio import save_crop

        return save_crop(
            self.photo,
            self.crop.box,
            Path(path),
            format=format,
            quality=quality,
            max_size=max_size,
            overwrite=overwrite,
        )


@dataclass
class Analysis:
    """One photo ready for the network: a reduced upright RGB image, its full size, and its
    faces (``[N, 5]`` ``x1, y1, x2, y2, score`` in full-size pixels, largest first; None when
    faces were not looked for)."""

    image: Image.Image
    full_size: tuple[int, int]
    faces: np.ndarray | None = None


#: What the API takes for ratios: one ratio ("4:3", (4, 3), a Ratio) or several of them.
Ratios = str | Ratio | tuple[float, float] | Iterable[str | Ratio | tuple[float, float]]


def as_ratios(ratios: Ratios) -> list[Ratio]:
    """``"4:3"``, ``(4, 3)``, ``Ratio`` or a list of any of them, as de-duplicated Ratios in the
    order given."""
    if isinstance(ratios, (str, Ratio)) or (
        isinstance(ratios, tuple)
        and len(ratios) == 2
        and all(isinstance(v, (int, float)) for v in ratios)
    ):
        ratios = [ratios]
    out = [r if isinstance(r, Ratio) else parse_ratio(r) for r in ratios]
    return list(dict.fromkeys(out))


class Cropper:
    """Scores candidate crops of photos with a trained network.

    ``engine`` is ``"onnx"`` (ONNX Runtime, the default: no torch needed), ``"torch"`` (needs
    ``sacrop[train]``; CUDA) or ``"auto"`` (onnx, or torch for ``device="cuda"`` when ONNX
    Runtime has no CUDA), or an :class:`~sacrop_cli.engine.Engine` already loaded. ``threads``
    is the network's threads per worker (default: the engine's choice).
    ``refine=False`` returns the best candidates as they are (grid anchors, ratio windows),
    without the local search of :meth:`Encoded.best_crops`. ``faces=False`` neither looks for
    faces nor keeps crops from cutting them (see :mod:`sacrop_cli.constraints`).
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str = "auto",
        *,
        engine: str | Engine = "auto",
        threads: int | None = None,
        refine: bool = True,
        faces: bool = True,
    ) -> None:
        if isinstance(engine, str):
            engine = load_engine(weights, engine=engine, device=device, threads=threads)
        self.engine: Engine = engine
        self.refine = refine
        self.meta: dict[str, Any] = engine.meta
        self.input_spec: dict[str, Any] = engine.meta["input"]
        self.weights_path: Path = engine.path
        self.detector: FaceDetector | None = FaceDetector() if faces else None

    @property
    def device(self) -> str:
        return self.engine.device

    # -- loading -------------------------------------------------------------------------
    def load(self, image_or_path: str | Path | Image.Image) -> Analysis:
        """A path is decoded upright at reduced size (JPEG draft). A PIL image must already be
        upright; one opened from a JPEG file and not changed since is decoded from its file
        as its path would be, so that both score alike (a draft decode differs slightly from
        shrinking decoded pixels)."""
        from sacrop_cli.imageio import open_for_analysis

        if isinstance(image_or_path, Image.Image):
            source = getattr(image_or_path, "filename", "")
            if not (image_or_path.format == "JPEG" and source and Path(source).is_file()):
                return self.analyse(image_or_path.convert("RGB"), image_or_path.size)
            image_or_path = Path(source)

        return self.analyse(*open_for_analysis(Path(image_or_path), self.input_spec["short_side"]))

    def analyse(
        self, image: Image.Image, full_size: tuple[int, int], *, resize: bool = False
    ) -> Analysis:
        """An upright RGB ``image`` of a photo of ``full_size``, with its faces found (on this
        image, before any resize), and with ``resize`` already at the network's input size."""
        faces = self.detector.detect(image, full_size) if self.detector else None
        if resize:
            image = resize_to(image, input_size(*full_size, self.input_spec))
        return Analysis(image, full_size, faces)

    # -- scoring ---------------------------------------------------------------------------
    def encode(self, photos: Sequence[Analysis]) -> Encoded:
        """Run the backbone on ``photos``; the result scores any number of crops of them.

        Photos with the same network input size form one group, whose crops the engine scores
        in one call.
        """
        groups: dict[tuple[int, int], list[int]] = {}
        for i, photo in enumerate(photos):
            groups.setdefault(input_size(*photo.full_size, self.input_spec), []).append(i)
        encoded = []
        for size, members in groups.items():
            images = np.stack(
                [image_to_array(photos[i].image, size, self.input_spec) for i in members]
            )
            encoded.append((members, size, self.engine.encode(images)))
        return Encoded(self, list(photos), encoded)

    def score_many(
        self, photos: Sequence[Analysis], boxes: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """Scores of ``boxes[i]`` (``[N_i, 4]`` full-resolution pixels) on ``photos[i]``."""
        return self.encode(photos).scores(boxes)

    def best_crops(
        self, photos: Sequence[Analysis], ratios: Ratios, k: int = 1, *, orient: bool = False
    ) -> list[list[Crop]]:
        """Top-``k`` crops per ratio for each photo, all ratios in one pass. With ``orient``, a
        fixed ratio follows each photo's orientation (4:3 is 3:4 on a portrait photo)."""
        wanted = as_ratios(ratios)
        per_photo = [
            [r.oriented(*p.full_size) for r in wanted] if orient else wanted for p in photos
        ]
        return self.encode(photos).best_crops(per_photo, k)

    def crop(
        self,
        image_or_path: str | Path | Image.Image,
        ratios: Ratios = ("any",),
        top_k: int = 1,
        *,
        orient: bool = False,
    ) -> list[Crop]:
        """The ``top_k`` best crops of one photo for each ratio, best first within a ratio;
        ``orient`` as in :meth:`best_crops`."""
        return self.best_crops([self.load(image_or_path)], ratios, top_k, orient=orient)[0]

    def crop_images(
        self,
        image_or_path: str | Path | Image.Image,
        ratios: Ratios = ("any",),
        top_k: int = 1,
        *,
        orient: bool = False,
    ) -> list[CroppedImage]:
        """:meth:`crop`, with each crop's pixels at full resolution and a ``save`` that keeps
        the photo's EXIF, ICC profile and XMP."""
        from sacrop_cli.imageio import open_photo, photo_from_image

        crops = self.crop(image_or_path, ratios, top_k, orient=orient)
        if isinstance(image_or_path, Image.Image):
            photo = photo_from_image(image_or_path)
        else:
            photo = open_photo(Path(image_or_path))
        return [CroppedImage(c, photo) for c in crops]

    def score(
        self, image_or_path: str | Path | Image.Image, boxes: Sequence[Sequence[float]]
    ) -> list[float]:
        """Scores of the given boxes (full-resolution upright pixels); higher is better."""
        photo = self.load(image_or_path)
        arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        w, h = photo.full_size
        bad = ~(
            (arr[:, 0] >= 0)
            & (arr[:, 1] >= 0)
            & (arr[:, 2] <= w)
            & (arr[:, 3] <= h)
            & (arr[:, 2] > arr[:, 0])
            & (arr[:, 3] > arr[:, 1])
        )
        if bad.any():
            raise ValueError(
                f"box {arr[bad][0].astype(int).tolist()} is empty or outside the {w}x{h} image"
            )
        return [float(s) for s in self.score_many([photo], [arr])[0]]


def _rules(photo: Analysis, maps: np.ndarray | None) -> CropRules:
    """The photo's faces, and the subject of its high-level activation map (if it has maps)."""
    faces = photo.faces if photo.faces is not None else np.zeros((0, 4))
    subject = None if maps is None else subject_box(maps[1], *photo.full_size)
    return CropRules(faces, *photo.full_size, subject)


#: Keys this close are of one face level: all of them may be alternatives (see best_crops).
_SAME_LEVEL = 1.5 * SUBJECT_STEP


def _best(scores: np.ndarray, keys: np.ndarray, best_key: float) -> int:
    """The index of the best-scoring box of the best key (ties: the first)."""
    return int(np.argmax(np.where(keys <= best_key + 1e-9, scores, -np.inf)))


def _ranked(scores: np.ndarray, keys: np.ndarray, best_key: float) -> np.ndarray:
    """Scores that order the boxes of the best key before the others (for the alternatives)."""
    return np.where(keys <= best_key + 1e-9, scores, scores - 1e6)


def _with_anchored(boxes: np.ndarray, rules: CropRules) -> np.ndarray:
    """The candidates, and copies of them moved to hold the faces (when there are any)."""
    moved = rules.anchored(boxes)
    return np.unique(np.concatenate([boxes, moved]), axis=0) if len(moved) else boxes


class Encoded:
    """Backbone features of some photos (see :meth:`Cropper.encode`): scoring a crop then costs
    only the heads, which is what makes the local search of :meth:`best_crops` cheap."""

    def __init__(
        self,
        cropper: Cropper,
        photos: list[Analysis],
        groups: list[tuple[list[int], tuple[int, int], Any]],
    ) -> None:
        self.cropper, self.photos, self.groups = cropper, photos, groups

    def scores(self, boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Scores of ``boxes[i]`` (``[N_i, 4]`` full-resolution pixels) on photo ``i``;
        one engine call per group of photos."""
        out: list[np.ndarray] = [np.zeros(0, np.float32)] * len(self.photos)
        for members, size, feats in self.groups:
            rois = np.concatenate(
                [
                    boxes_to_rois(boxes[i], self.photos[i].full_size, size, b)
                    for b, i in enumerate(members)
                ]
            )
            if not len(rois):
                continue
            scores = self.cropper.engine.scores(feats, rois)
            start = 0
            for i in members:
                out[i] = scores[start : start + len(boxes[i])]
                start += len(boxes[i])
        return out

    def maps(self) -> list[np.ndarray | None]:
        """Per photo, its activation maps ``[2, grid, grid]`` (None for the basic model)."""
        out: list[np.ndarray | None] = [None] * len(self.photos)
        for members, _, feats in self.groups:
            maps = self.cropper.engine.maps(feats)
            if maps is not None:
                for b, i in enumerate(members):
                    out[i] = maps[b]
        return out

    def best_crops(self, ratios: Sequence[Sequence[Ratio]], k: int = 1) -> list[list[Crop]]:
        """Top-``k`` crops of photo ``i`` for each of ``ratios[i]``, best first.

        Only the boxes of the best face level any box of the ratio reaches compete, the
        candidates joined by copies moved to hold the faces (see :mod:`sacrop_cli.constraints`).
        Rank 1 is the best of those that also keep the subject when any does; then (unless the
        cropper's ``refine`` is off) it climbs to the best-scoring of its
        :func:`~sacrop_cli.candidates.neighbours` that keep its level while one scores higher,
        for at most :data:`REFINE_ROUNDS` steps: the grid is coarse (a twelfth of the photo),
        and the network, trained on the human crops as well as the grid, ranks boxes between its
        points. For the free ratio, the whole photo replaces that box when it scores
        :data:`WHOLE_PHOTO_MARGIN` higher (a well-framed photo can stay as it is), or when it
        alone keeps the faces whole. Rank 1 is the same whatever ``k``. Ranks 2 to ``k`` are the
        best of the other boxes of the face level (climbed the same way; those keeping the
        subject first) that are visibly different framings from every better rank (see
        :data:`~sacrop_cli.candidates.ALTERNATIVE_IOU`).
        """
        rules = [_rules(p, m) for p, m in zip(self.photos, self.maps())]
        cands = [
            [_with_anchored(candidates_for(r, *p.full_size), rule) for r in rs]
            for p, rs, rule in zip(self.photos, ratios, rules)
        ]
        wholes = [
            np.array([[0, 0, *p.full_size]] if any(r.kind == "any" for r in rs) else []).reshape(
                -1, 4
            )
            for p, rs in zip(self.photos, ratios)
        ]
        flat = self.scores([np.concatenate([*c, w]) for c, w in zip(cands, wholes)])
        whole_scores = [s[len(s) - len(w) :] for s, w in zip(flat, wholes)]
        flat = [s[: len(s) - len(w)] for s, w in zip(flat, wholes)]
        # per photo, per ratio: the boxes of the best face level, their scores and keys
        # (see constraints: the face level, plus a step if the box misses the subject), and the
        # best key: rank 1 has it, the other ranks may miss the subject
        pools, levels = [], []
        for c, s, rule in zip(cands, flat, rules):
            pool, level = [], []
            for boxes, scores in zip(c, np.split(s, np.cumsum([len(b) for b in c])[:-1])):
                keys = rule.levels(boxes)
                ok = keys <= keys.min() + _SAME_LEVEL
                pool.append((boxes[ok], scores[ok], keys[ok]))
                level.append(float(keys.min()))
            pools.append(pool)
            levels.append(level)
        if self.cropper.refine:
            self._refine(ratios, pools, k, rules, levels)
        out = []
        for rs, pool, level, whole, whole_score, rule in zip(
            ratios, pools, levels, wholes, whole_scores, rules
        ):
            crops = []
            for r, (boxes, s, keys), lv in zip(rs, pool, level):
                # after refinement the rank-1 climber's box is first in the pool
                first = 0 if self.cropper.refine else _best(s, keys, lv)
                if r.kind == "any":
                    whole_key = float(rule.levels(whole)[0])  # it cuts nothing
                    if whole_key + SUBJECT_STEP < lv:  # it alone meets the face rules
                        boxes, s, first = whole.astype(boxes.dtype), whole_score, 0
                        keys, lv = np.array([whole_key]), whole_key
                    elif whole_score[0] > s[first] + WHOLE_PHOTO_MARGIN:
                        boxes = np.concatenate([boxes, whole.astype(boxes.dtype)])
                        s = np.concatenate([s, whole_score.astype(s.dtype)])
                        keys = np.concatenate([keys, [whole_key]])
                        first, lv = len(s) - 1, whole_key
                picked = [first, *alternatives(boxes, _ranked(s, keys, lv), first, k - 1)]
                crops += [
                    Crop(r.label, rank, tuple(int(v) for v in boxes[i]), float(s[i]), note(lv, r))
                    for rank, i in enumerate(picked, start=1)
                ]
            out.append(crops)
        return out

    def _refine(
        self,
        ratios: Sequence[Sequence[Ratio]],
        pools: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]],
        k: int,
        rules: Sequence[CropRules],
        levels: Sequence[Sequence[float]],
    ) -> None:
        """Hill-climb the best candidate of each pool and its ``k - 1`` best alternatives,
        never to a box of a worse key than it may have (rank 1: the best key; the others: the
        pool's face level); the climbed boxes join the front of the pool, the best candidate's
        first, in place."""
        # climbers: (photo, ratio, rank) -> current box and score; dropped once no step helps
        current = {}
        for p, pool in enumerate(pools):
            for r, (boxes, s, keys) in enumerate(pool):
                first = _best(s, keys, levels[p][r])
                ranked = _ranked(s, keys, levels[p][r])
                for j, i in enumerate([first, *alternatives(boxes, ranked, first, k - 1)]):
                    current[p, r, j] = (boxes[i], float(s[i]), float(keys[i]))
        active = sorted(current)
        for _ in range(REFINE_ROUNDS):
            if not active:
                break
            steps = {}  # the neighbours each climber may step to, and their keys
            for p, r, j in active:
                near = neighbours(current[p, r, j][0], ratios[p][r], *self.photos[p].full_size)
                keys = rules[p].levels(near)
                ok = keys <= levels[p][r] + (0 if j == 0 else _SAME_LEVEL) + 1e-9
                steps[p, r, j] = (near[ok], keys[ok])
            scores = self.scores(
                [
                    np.concatenate(
                        [steps[key][0] for key in active if key[0] == p] or [np.zeros((0, 4))]
                    )
                    for p in range(len(self.photos))
                ]
            )
            offsets = [0] * len(self.photos)
            moved = []
            for key in active:
                p, (boxes, keys) = key[0], steps[key]
                s = scores[p][offsets[p] : offsets[p] + len(boxes)]
                offsets[p] += len(boxes)
                if len(s) and s.max() > current[key][1]:
                    best = int(np.argmax(s))
                    current[key] = (boxes[best], float(s[best]), float(keys[best]))
                    moved.append(key)
            active = moved
        for p, pool in enumerate(pools):
            for r, (boxes, s, keys) in enumerate(pool):
                climbed = [current[key] for key in sorted(current) if key[:2] == (p, r)]
                pool[r] = (
                    np.concatenate(
                        [np.asarray([c[0] for c in climbed], boxes.dtype).reshape(-1, 4), boxes]
                    ),
                    np.concatenate([np.float32([c[1] for c in climbed]), s]),
                    np.concatenate([[c[2] for c in climbed], keys]),
                )
