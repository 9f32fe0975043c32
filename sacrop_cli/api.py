"""The Python API: ``Cropper`` finds and scores crops; the CLI is a thin layer over it.

>>> from sacrop_cli import Cropper
>>> cropper = Cropper()                       # shipped weights, ONNX Runtime on the CPU
>>> cropper.crop("examples/wine.jpg", ratios=["4:3"], top_k=2)
[Crop(ratio='4:3', rank=1, box=(...), score=...), ...]

Boxes are integer pixels of the upright photo (EXIF orientation applied), x2/y2 exclusive.
What runs the network is an :class:`~sacrop_cli.engines.base.Engine`; nothing here knows which.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from sacrop_cli import search
from sacrop_cli.constraints import CropRules, subject_box
from sacrop_cli.engines.base import Engine
from sacrop_cli.engines.choices import DEFAULT_PRECISION, DEVICES, ENGINES, PRECISIONS
from sacrop_cli.engines.factory import load_engine
from sacrop_cli.errors import SacropError
from sacrop_cli.faces import FaceDetector
from sacrop_cli.hints import Hints, RegionLike
from sacrop_cli.io.encode import save_crop
from sacrop_cli.io.imageio import open_for_analysis, open_photo, photo_from_image
from sacrop_cli.io.photo import own_pixel_limit
from sacrop_cli.model.preprocess import boxes_to_rois, image_to_array, input_size, resize_to
from sacrop_cli.ratios import Ratio, parse_ratio
from sacrop_cli.search import Crop

if TYPE_CHECKING:
    from sacrop_cli.io.imageio import Photo


@dataclass(frozen=True)
class CroppedImage:
    """A crop of a photo at full resolution, and how to save it with the photo's metadata."""

    crop: Crop
    photo: Photo

    @property
    def image(self) -> Image.Image:
        """The cropped pixels (upright); ``save`` keeps EXIF, ICC and XMP, this alone does not."""
        with own_pixel_limit():  # Image.crop runs Pillow's bomb check again
            return self.photo.image.crop(self.crop.box)

    def save(
        self,
        path: str | Path,
        *,
        format: str | None = None,  # noqa: A002 - Pillow's name
        quality: int = 95,
        max_size: tuple[int, int] | None = None,
        overwrite: bool = False,
        background: str = "white",
    ) -> Path:
        """Write the crop as ``sacrop crop`` does: EXIF (orientation reset, crop size), ICC
        profile and XMP kept, written whole or not at all, an existing file kept unless
        ``overwrite``; transparent pixels on ``background`` in a format without alpha."""
        return save_crop(
            self.photo,
            self.crop.box,
            Path(path),
            format=format,
            quality=quality,
            max_size=max_size,
            overwrite=overwrite,
            background=background,
        )


@dataclass
class Analysis:
    """One photo ready for the network: a reduced upright RGB image, its full size, and its
    faces (``[N, 5]`` ``x1, y1, x2, y2, score`` in full-size pixels, largest first; None when
    faces were not looked for)."""

    image: Image.Image
    full_size: tuple[int, int]
    faces: np.ndarray | None = None


#: What the API takes for ratios: one ratio ("4:3", 1.5, (4, 3), a Ratio) or several of them.
OneRatio = str | float | Ratio | tuple[float, float]
Ratios = OneRatio | Iterable[OneRatio]
#: What the API takes for photos: paths, upright PIL images, or :meth:`Cropper.load` results.
PhotoLike = str | Path | Image.Image | Analysis
#: Regions of a hint: one (``"10%,20%,40%,60%"``, ``(60, 80, 240, 240)``) or a list of them.
Regions = RegionLike | Iterable[RegionLike] | None

_RATIOS_HELP = 'pass a ratio ("4:3", "1.91:1", "any", "original", 1.5 or (4, 3)) or a list of them'


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_one_ratio(value: object) -> bool:
    return (
        isinstance(value, (str, Ratio))
        or _is_number(value)
        or (isinstance(value, tuple) and len(value) == 2 and all(map(_is_number, value)))
    )


def as_ratios(ratios: Ratios) -> list[Ratio]:
    """``"4:3"``, ``1.5`` (for 1.5:1, as ``--ratio 1.5``), ``(4, 3)``, ``Ratio`` or a list of
    any of them, as de-duplicated Ratios in the order given; anything else is a TypeError
    saying what to pass (a bad ratio text stays a ValueError saying why)."""
    if _is_one_ratio(ratios):
        ratios = [ratios]
    elif not isinstance(ratios, Iterable):
        raise TypeError(f"{ratios!r} is not a ratio: {_RATIOS_HELP}")
    out = []
    for r in ratios:
        if not _is_one_ratio(r):
            raise TypeError(f"{r!r} is not a ratio: {_RATIOS_HELP}")
        out.append(r if isinstance(r, Ratio) else parse_ratio(str(r) if _is_number(r) else r))
    return list(dict.fromkeys(out))


def ratios_per_photo(ratios: Ratios | Sequence[Ratios], count: int) -> list[list[Ratio]]:
    """The ratios of each of ``count`` photos: one list per photo (a list of lists, as
    :meth:`Encoded.best_crops` is called inside sacrop), or one ratio or list for all."""
    if (
        isinstance(ratios, (list, tuple))
        and ratios
        and all(isinstance(r, (list, tuple)) and not _is_one_ratio(r) for r in ratios)
    ):
        if len(ratios) != count:
            raise TypeError(
                f"{len(ratios)} lists of ratios for {count} photo(s): pass one list per photo, "
                "or one ratio or list of ratios for all"
            )
        return [as_ratios(r) for r in ratios]
    return [as_ratios(ratios)] * count


@dataclass(frozen=True)
class ModelSpec:
    """What a :class:`Cropper` is made of, checked once and frozen, so that it travels as it is:
    from the command line to every command, to Ray workers, into a review.

    ``weights``: a registered name, a file or a URL (default: the shipped weights). ``engine``:
    ``"onnx"`` (ONNX Runtime: no torch needed), ``"torch"`` (needs ``sacrop[train]``; CUDA) or
    ``"auto"`` (onnx, or torch for ``device="cuda"`` when ONNX Runtime has no CUDA).
    ``precision="int8"`` runs the int8 graph of the weights (ONNX Runtime; see
    :mod:`sacrop_cli.model.quantize`). ``refine=False`` keeps the best candidates as they are
    (grid anchors, ratio windows), without the local search of :meth:`Encoded.best_crops`.
    ``faces=False`` neither looks for faces nor keeps crops from cutting them (see
    :mod:`sacrop_cli.constraints`). ``threads``: the network's threads per worker (default: the
    engine's choice).
    """

    weights: str | None = None
    engine: str = "auto"
    device: str = "auto"
    precision: str = DEFAULT_PRECISION
    refine: bool = True
    faces: bool = True
    threads: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.weights, Path):
            object.__setattr__(self, "weights", str(self.weights))
        for name, choices in (("engine", ENGINES), ("device", DEVICES), ("precision", PRECISIONS)):
            if getattr(self, name) not in choices:
                raise SacropError(
                    f"unknown {name} {getattr(self, name)!r}; choose one of {', '.join(choices)}"
                )
        if self.threads is not None and self.threads < 1:
            raise SacropError(f"threads must be at least 1, not {self.threads}")

    def load(self) -> Cropper:
        """The Cropper: the engine loaded (a SacropError says why it cannot be)."""
        return Cropper.from_spec(self)

    def load_engine(self) -> Engine:
        return load_engine(
            self.weights,
            engine=self.engine,
            device=self.device,
            threads=self.threads,
            precision=self.precision,
        )


class Cropper:
    """Scores candidate crops of photos with a trained network.

    The keywords are those of :class:`ModelSpec` (``Cropper(faces=False)``;
    ``ModelSpec(...).load()`` is the same Cropper), except that ``engine`` may also be an
    :class:`~sacrop_cli.engines.base.Engine` already loaded, which then replaces the spec's
    weights, engine, device and precision.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        device: str = "auto",
        *,
        engine: str | Engine = "auto",
        **settings: Any,
    ) -> None:
        named = engine if isinstance(engine, str) else "auto"
        spec = ModelSpec(weights, named, device, **settings)  # type: ignore[arg-type]
        self._start(spec, None if isinstance(engine, str) else engine)

    @classmethod
    def from_spec(cls, spec: ModelSpec, engine: Engine | None = None) -> Cropper:
        cropper = cls.__new__(cls)
        cropper._start(spec, engine)
        return cropper

    def _start(self, spec: ModelSpec, engine: Engine | None) -> None:
        self.spec = spec
        self.engine: Engine = engine if engine is not None else spec.load_engine()
        self.refine = spec.refine
        self.meta: dict[str, Any] = self.engine.meta
        self.input_spec: dict[str, Any] = self.engine.meta["input"]
        self.weights_path: Path = self.engine.path
        self.detector: FaceDetector | None = FaceDetector() if spec.faces else None

    @property
    def device(self) -> str:
        return self.engine.device

    # -- loading -------------------------------------------------------------------------
    def load(self, image_or_path: str | Path | Image.Image) -> Analysis:
        """A path is decoded upright at reduced size (JPEG draft). A PIL image must already be
        upright; one opened from a JPEG file and not changed since is decoded from its file
        as its path would be, so that both score alike (a draft decode differs slightly from
        shrinking decoded pixels)."""
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

    def load_all(self, photos: Iterable[PhotoLike]) -> list[Analysis]:
        """``photos`` as analyses: paths and PIL images are loaded (:meth:`load`), analyses
        kept; one photo rather than a list, or anything else, is a TypeError saying what to
        pass."""
        if isinstance(photos, (str, Path, Image.Image, Analysis)) or not isinstance(
            photos, Iterable
        ):
            raise TypeError(
                f"pass a list of photos (paths, PIL images or Cropper.load results), not one "
                f"{type(photos).__name__}"
            )
        out = []
        for photo in photos:
            if not isinstance(photo, (str, Path, Image.Image, Analysis)):
                raise TypeError(
                    f"{photo!r} is not a photo: pass a path, a PIL image or a Cropper.load result"
                )
            out.append(photo if isinstance(photo, Analysis) else self.load(photo))
        return out

    # -- scoring ---------------------------------------------------------------------------
    def encode(self, photos: Iterable[PhotoLike]) -> Encoded:
        """Run the backbone on ``photos`` (paths, PIL images or :meth:`load` results); the
        result scores any number of crops of them.

        Photos with the same network input size form one group, whose crops the engine scores
        in one call.
        """
        photos = self.load_all(photos)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, photo in enumerate(photos):
            groups.setdefault(input_size(*photo.full_size, self.input_spec), []).append(i)
        encoded = []
        for size, members in groups.items():
            images = np.stack(
                [image_to_array(photos[i].image, size, self.input_spec) for i in members]
            )
            encoded.append((members, size, self.engine.encode(images)))
        return Encoded(self, photos, encoded)

    def score_many(
        self, photos: Iterable[PhotoLike], boxes: Sequence[np.ndarray]
    ) -> list[np.ndarray]:
        """Scores of ``boxes[i]`` (``[N_i, 4]`` full-resolution pixels) on ``photos[i]``."""
        return self.encode(photos).scores(boxes)

    def best_crops(
        self,
        photos: Iterable[PhotoLike],
        ratios: Ratios,
        k: int = 1,
        *,
        orient: bool = False,
        keep: Regions = None,
        avoid: Regions = None,
        focus: RegionLike | None = None,
        hints: Sequence[Hints | None] | None = None,
    ) -> list[list[Crop]]:
        """Top-``k`` crops per ratio for each photo, all ratios in one pass. With ``orient``, a
        fixed ratio follows each photo's orientation (4:3 is 3:4 on a portrait photo).

        ``keep`` (regions every crop holds whole), ``avoid`` (regions crops leave out) and
        ``focus`` (a point every crop holds) are a person's hints for every photo, in pixels of
        the upright photo or ``%`` of its sides (``keep="10%,20%,40%,60%"``); ``hints[i]`` adds
        photo ``i``'s own. They outrank the face rules; where no window of a ratio meets one,
        the crops are the nearest miss and their ``note`` says so. ValueError when a hint is
        malformed or outside a photo."""
        photos = self.load_all(photos)
        wanted = as_ratios(ratios)
        per_photo = [
            [r.oriented(*p.full_size) for r in wanted] if orient else wanted for p in photos
        ]
        common = Hints.of(keep, avoid, focus)
        own = hints if hints is not None else [None] * len(photos)
        return self.encode(photos).best_crops(per_photo, k, [common.combined(h) for h in own])

    def crop(
        self,
        image_or_path: str | Path | Image.Image,
        ratios: Ratios = ("any",),
        top_k: int = 1,
        *,
        orient: bool = False,
        keep: Regions = None,
        avoid: Regions = None,
        focus: RegionLike | None = None,
    ) -> list[Crop]:
        """The ``top_k`` best crops of one photo for each ratio, best first within a ratio;
        ``orient`` and the hints ``keep``, ``avoid`` and ``focus`` as in :meth:`best_crops`."""
        return self.best_crops(
            [self.load(image_or_path)],
            ratios,
            top_k,
            orient=orient,
            keep=keep,
            avoid=avoid,
            focus=focus,
        )[0]

    def crop_images(
        self,
        image_or_path: str | Path | Image.Image,
        ratios: Ratios = ("any",),
        top_k: int = 1,
        *,
        orient: bool = False,
        keep: Regions = None,
        avoid: Regions = None,
        focus: RegionLike | None = None,
    ) -> list[CroppedImage]:
        """:meth:`crop`, with each crop's pixels at full resolution and a ``save`` that keeps
        the photo's EXIF, ICC profile and XMP."""
        crops = self.crop(
            image_or_path, ratios, top_k, orient=orient, keep=keep, avoid=avoid, focus=focus
        )
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


def _rules(photo: Analysis, maps: np.ndarray | None, hints: Hints | None) -> CropRules:
    """The photo's faces, the subject of its high-level activation map (if it has maps) and a
    person's hints."""
    faces = photo.faces if photo.faces is not None else np.zeros((0, 4))
    subject = None if maps is None else subject_box(maps[1], *photo.full_size)
    pixels = hints.in_pixels(*photo.full_size) if hints else None
    return CropRules(faces, *photo.full_size, subject, pixels)


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

    def best_crops(
        self,
        ratios: Ratios | Sequence[Ratios],
        k: int = 1,
        hints: Sequence[Hints | None] | None = None,
    ) -> list[list[Crop]]:
        """Top-``k`` crops of photo ``i`` for each of ``ratios[i]`` (or of ``ratios`` for every
        photo: ``"4:3"``, ``["4:3", "1:1"]``), best first: the steps of
        :mod:`sacrop_cli.search` (build, refine unless the cropper's ``refine`` is off, pick).

        Only the boxes of the best face level any box of the ratio reaches compete. Rank 1 is
        the best of those that also keep the subject when any does, and the same whatever
        ``k``; ranks 2 to ``k`` are visibly different framings from every better rank (see
        :data:`~sacrop_cli.candidates.ALTERNATIVE_IOU`). ``hints[i]`` are photo ``i``'s hints,
        which outrank the face rules.
        """
        ratios = ratios_per_photo(ratios, len(self.photos))
        own = hints if hints is not None else [None] * len(self.photos)
        rules = [_rules(p, m, h) for p, m, h in zip(self.photos, self.maps(), own)]
        pools = search.build(self.scores, ratios, rules)
        if self.cropper.refine:
            pools = search.refine(self.scores, pools, k, rules)
        return [
            [crop for pool in photo_pools for crop in search.pick(pool, rule, k)]
            for photo_pools, rule in zip(pools, rules)
        ]
