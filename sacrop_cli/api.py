"""The Python API: ``Cropper`` finds and scores crops; the CLI is a thin layer over it.

>>> from sacrop_cli import Cropper
>>> cropper = Cropper()                       # shipped weights, CUDA when present
>>> cropper.crop("photo.jpg", ratios=["4:3"], top_k=2)
[Crop(ratio='4:3', rank=1, box=(12, 0, 1612, 1200), score=1.23), ...]

Boxes are integer pixels of the upright photo (EXIF orientation applied), x2/y2 exclusive.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sacrop_cli.candidates import Ratio, candidates_for, neighbours, parse_ratio, top_k
from sacrop_cli.checkpoint import Checkpoint, read_checkpoint
from sacrop_cli.network import CropScorer, ImageFeatures
from sacrop_cli.preprocess import boxes_to_rois, image_to_tensor, input_size


#: Crops per forward pass are padded to a multiple of this: with few distinct tensor shapes,
#: oneDNN's kernel cache and the allocator stop growing over a folder of thousands of photos.
ROI_BUCKET = 16
#: At most this many refinement steps per top crop (see :meth:`Encoded.best_crops`).
REFINE_ROUNDS = 3


@dataclass(frozen=True)
class Crop:
    ratio: str
    rank: int
    box: tuple[int, int, int, int]
    score: float


@dataclass
class Analysis:
    """One photo ready for the network: a reduced upright RGB image and its full size."""

    image: Image.Image
    full_size: tuple[int, int]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        from sacrop_cli.errors import SacropError

        raise SacropError("--device cuda was asked for, but CUDA is not available here")
    return device


def as_ratios(ratios: Iterable[str | Ratio]) -> list[Ratio]:
    out = [r if isinstance(r, Ratio) else parse_ratio(r) for r in ratios]
    return list(dict.fromkeys(out))  # de-duplicated, order kept


class Cropper:
    """Scores candidate crops of photos with a trained :class:`CropScorer`.

    ``refine=False`` returns the best candidates as they are (grid anchors, ratio windows),
    without the local search of :meth:`Encoded.best_crops`."""

    def __init__(self, weights: str | Path | None = None, device: str | torch.device = "auto", *,
                 refine: bool = True) -> None:
        from sacrop_cli.weights import resolve_weights

        self.refine = refine
        path = weights if isinstance(weights, Path) else resolve_weights(weights)
        self._setup(read_checkpoint(path), resolve_device(device))
        self.weights_path: Path | None = Path(path)

    def _setup(self, ckpt: Checkpoint, device: torch.device) -> None:
        self.device, self.meta = device, ckpt.meta
        self.model = ckpt.build(device).optimize_for_inference()  # ours alone: never trained
        self.input_spec = ckpt.meta["input"]

    # -- loading -------------------------------------------------------------------------
    def load(self, image_or_path: str | Path | Image.Image) -> Analysis:
        """A path is decoded at reduced size (JPEG draft); a PIL image must already be upright."""
        if isinstance(image_or_path, Image.Image):
            return Analysis(image_or_path.convert("RGB"), image_or_path.size)
        from sacrop_cli.imageio import open_for_analysis

        image, full = open_for_analysis(Path(image_or_path), self.input_spec["short_side"])
        return Analysis(image, full)

    # -- scoring ---------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, photos: Sequence[Analysis]) -> Encoded:
        """Run the backbone on ``photos``; the result scores any number of crops of them.

        Photos with the same network input size form one group, whose crops the heads score in
        one pass. On CUDA a group also shares one backbone pass. On the CPU each photo has its
        own: batching gains nothing there, and varying batch shapes make oneDNN's kernel cache
        grow over thousands of photos (measured: peak RSS 1.29 GB after 400 photos batched,
        1.04 GB one by one, at the same speed).
        """
        groups: dict[tuple[int, int], list[int]] = {}
        for i, photo in enumerate(photos):
            groups.setdefault(input_size(*photo.full_size, self.input_spec), []).append(i)
        encoded = []
        for size, members in groups.items():
            batch = torch.stack([image_to_tensor(photos[i].image, size, self.input_spec) for i in members])
            with self._autocast():
                if self.device.type == "cuda":
                    feats = self.model.features(batch.to(self.device))
                else:
                    feats = ImageFeatures.cat([self.model.features(x[None]) for x in batch])
            encoded.append((members, feats))
        return Encoded(self, list(photos), encoded)

    def _autocast(self) -> torch.autocast:
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.device.type == "cuda")

    def score_many(self, photos: Sequence[Analysis], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Scores of ``boxes[i]`` (``[N_i, 4]`` full-resolution pixels) on ``photos[i]``."""
        return self.encode(photos).scores(boxes)

    def best_crops(self, photos: Sequence[Analysis], ratios: Iterable[str | Ratio], k: int = 1) -> list[list[Crop]]:
        """Top-``k`` de-duplicated crops per ratio for each photo, all ratios in one pass."""
        wanted = as_ratios(ratios)
        return self.encode(photos).best_crops([wanted] * len(photos), k)

    def crop(self, image_or_path: str | Path | Image.Image, ratios: Iterable[str | Ratio] = ("any",),
             top_k: int = 1) -> list[Crop]:
        """The ``top_k`` best crops of one photo for each ratio, best first within a ratio."""
        return self.best_crops([self.load(image_or_path)], ratios, top_k)[0]

    def score(self, image_or_path: str | Path | Image.Image, boxes: Sequence[Sequence[float]]) -> list[float]:
        """Scores of the given boxes (full-resolution upright pixels); higher is better."""
        photo = self.load(image_or_path)
        arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        w, h = photo.full_size
        bad = ~((arr[:, 0] >= 0) & (arr[:, 1] >= 0) & (arr[:, 2] <= w) & (arr[:, 3] <= h)
                & (arr[:, 2] > arr[:, 0]) & (arr[:, 3] > arr[:, 1]))
        if bad.any():
            raise ValueError(f"box {arr[bad][0].astype(int).tolist()} is empty or outside the {w}x{h} image")
        return [float(s) for s in self.score_many([photo], [arr])[0]]


class Encoded:
    """Backbone features of some photos (see :meth:`Cropper.encode`): scoring a crop then costs
    only the heads, which is what makes the local search of :meth:`best_crops` cheap."""

    def __init__(self, cropper: Cropper, photos: list[Analysis],
                 groups: list[tuple[list[int], ImageFeatures]]) -> None:
        self.cropper, self.photos, self.groups = cropper, photos, groups

    @torch.inference_mode()
    def scores(self, boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Scores of ``boxes[i]`` (``[N_i, 4]`` full-resolution pixels) on photo ``i``;
        one pass of the heads per group of photos."""
        model, device = self.cropper.model, self.cropper.device
        out: list[np.ndarray] = [np.zeros(0, np.float32)] * len(self.photos)
        for members, feats in self.groups:
            rois = torch.cat([boxes_to_rois(boxes[i], self.photos[i].full_size, feats.input_size, b)
                              for b, i in enumerate(members)])
            n_rois = len(rois)
            if not n_rois:
                continue
            rois = torch.cat([rois, rois[-1:].expand(-n_rois % ROI_BUCKET, 5)])
            with self.cropper._autocast():
                scores = model.score_embeddings(model.embed_crops(feats, rois.to(device)))
            scores = scores.float().cpu().numpy()[:n_rois]
            start = 0
            for i in members:
                out[i] = scores[start:start + len(boxes[i])]
                start += len(boxes[i])
        return out

    def best_crops(self, ratios: Sequence[Sequence[Ratio]], k: int = 1) -> list[list[Crop]]:
        """Top-``k`` de-duplicated crops of photo ``i`` for each of ``ratios[i]``.

        Unless the cropper's ``refine`` is off, each top crop then climbs to the best-scoring
        of its :func:`~sacrop_cli.candidates.neighbours` while one scores higher, for at most
        :data:`REFINE_ROUNDS` steps, and the top ``k`` are chosen again among the climbed boxes
        and the candidates: the grid is coarse (a twelfth of the photo), and the network, trained
        on the human crops as well as the grid, ranks boxes between its points. Measured on the
        FCDB validation part with the shipped weights: free-ratio IoU 0.7033 -> 0.7166.
        """
        cands = [[candidates_for(r, *p.full_size) for r in rs] for p, rs in zip(self.photos, ratios)]
        flat = self.scores([np.concatenate(c) if c else np.zeros((0, 4)) for c in cands])
        # per photo, per ratio: (boxes, scores)
        pools = [list(zip(c, np.split(s, np.cumsum([len(b) for b in c])[:-1]))) for c, s in zip(cands, flat)]
        if self.cropper.refine:
            self._refine(ratios, pools, k)
        return [[Crop(r.label, rank, tuple(int(v) for v in boxes[i]), float(s[i]))
                 for r, (boxes, s) in zip(rs, pool) for rank, i in enumerate(top_k(boxes, s, k), start=1)]
                for rs, pool in zip(ratios, pools)]

    def _refine(self, ratios: Sequence[Sequence[Ratio]], pools: list[list[tuple[np.ndarray, np.ndarray]]],
                k: int) -> None:
        """Hill-climb the top ``k`` of each pool; the climbed boxes join the pool, in place."""
        # climbers: (photo, ratio, rank) -> current box and score; dropped once no step helps
        current = {(p, r, j): (boxes[i], float(s[i]))
                   for p, pool in enumerate(pools) for r, (boxes, s) in enumerate(pool)
                   for j, i in enumerate(top_k(boxes, s, k))}
        active = sorted(current)
        for _ in range(REFINE_ROUNDS):
            if not active:
                break
            steps = {key: neighbours(current[key][0], ratios[key[0]][key[1]], *self.photos[key[0]].full_size)
                     for key in active}
            scores = self.scores([np.concatenate([steps[key] for key in active if key[0] == p] or [np.zeros((0, 4))])
                                  for p in range(len(self.photos))])
            offsets = [0] * len(self.photos)
            moved = []
            for key in active:
                p, boxes = key[0], steps[key]
                s = scores[p][offsets[p]:offsets[p] + len(boxes)]
                offsets[p] += len(boxes)
                if len(s) and s.max() > current[key][1]:
                    current[key] = (boxes[int(np.argmax(s))], float(s.max()))
                    moved.append(key)
            active = moved
        for (p, r, _), (box, score) in current.items():
            boxes, s = pools[p][r]
            pools[p][r] = (np.concatenate([box[None].astype(boxes.dtype), boxes]),
                           np.concatenate([np.float32([score]), s]))
