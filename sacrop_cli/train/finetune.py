"""Learning a person's taste from their reviews, in minutes on a CPU: the backbone and the
activation maps stay as trained, each reviewed photo's features are computed once, and only the
crop heads (content, spatial encoder, embedding, regression) move, from the base weights.

Two terms per photo:

- the review pairs (:mod:`sacrop_cli.train.reviews`): a logistic loss on the score difference,
  better minus worse, so the person's choice climbs above what sacrop proposed;
- keeping the rest of the judgment: the base network's own scores of the photo's other
  candidates (its GAIC grid and the ranks offered) as targets (Smooth L1), so that a few reviews
  move rank 1 toward the taste without unlearning composition.

Nothing is written until the weights are learned: Ctrl-C leaves no checkpoint, a finished run
one written whole (:func:`sacrop_cli.model.checkpoint.save_checkpoint`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sacrop_cli.candidates import gaic_grid
from sacrop_cli.errors import SacropError
from sacrop_cli.io.imageio import open_for_analysis
from sacrop_cli.model.checkpoint import Checkpoint, make_meta, save_checkpoint
from sacrop_cli.model.format import DEFAULT_INPUT
from sacrop_cli.model.network import CropScorer, ImageFeatures, build_scorer
from sacrop_cli.model.preprocess import boxes_to_rois, image_to_array, input_size
from sacrop_cli.train.reviews import ReviewedPhoto, photo_problem
from sacrop_cli.train.trainer import Reporter

#: The modules a review fine-tunes; the rest (backbone, map reduction, attention) stays.
TUNED = ("content.", "spatial.encoder.", "embed.", "regress.")


@dataclass
class FinetuneConfig:
    """Every choice of learning from reviews; stored in the checkpoint's metadata."""

    epochs: int = 40
    lr: float = 1e-3
    photos_per_step: int = 8
    pair_scale: float = 4.0  # logistic loss on scale * (better - worse), normalised MOS units
    keep_weight: float = 1.0  # weight of the base scores kept on the other candidates
    keep_crops: int = 32  # candidates per photo and step whose base scores are kept
    seed: int = 0


@dataclass
class ReviewItem:
    """A reviewed photo ready for the heads: its features and boxes in network pixels."""

    name: str
    feats: ImageFeatures
    better: Tensor  # [P, 4]
    worse: Tensor  # [P, 4]
    keep: Tensor  # [N, 4] other candidates
    keep_scores: Tensor  # [N] the base network's scores of them


def _rois(boxes: Tensor) -> Tensor:
    return torch.cat([torch.zeros(len(boxes), 1), boxes], 1)


def _scores(model: CropScorer, feats: ImageFeatures, boxes: Tensor) -> Tensor:
    return model.score_embeddings(model.embed_crops(feats, _rois(boxes)))


@torch.no_grad()
def prepare(model: CropScorer, photo: ReviewedPhoto, cache: dict | None = None) -> ReviewItem | str:
    """The item of one photo, or why it is skipped ("missing", "size changed"). ``cache`` keeps
    the photo's features and base scores for another learning from the same weights."""
    key = (str(photo.source), tuple(photo.size), tuple(photo.offered))
    if cache is not None and key in cache:
        found = cache[key]
    else:
        found = _encode(model, photo)
        if cache is not None:
            cache[key] = found
    if isinstance(found, str):
        return found
    feats, to_net, keep, keep_scores = found
    return ReviewItem(
        str(photo.source),
        feats,
        to_net([p.better for p in photo.pairs]),
        to_net([p.worse for p in photo.pairs]),
        keep,
        keep_scores,
    )


def _encode(model: CropScorer, photo: ReviewedPhoto) -> tuple | str:
    try:
        image, full = open_for_analysis(photo.source, DEFAULT_INPUT["short_side"])
    except (SacropError, OSError):
        full = None
    problem = photo_problem(photo, full)
    if problem is not None:
        return problem
    net = input_size(*full, DEFAULT_INPUT)
    x = torch.from_numpy(image_to_array(image, net, DEFAULT_INPUT))[None]
    feats = model.features(x)

    def to_net(boxes: list) -> Tensor:
        arr = np.asarray(boxes, np.float32).reshape(-1, 4)
        return torch.from_numpy(boxes_to_rois(arr, full, net)[:, 1:]).float()

    keep = to_net([*gaic_grid(*full).tolist(), *photo.offered])
    return feats, to_net, keep, _scores(model, feats, keep).clone()


def photo_loss(
    model: CropScorer, item: ReviewItem, cfg: FinetuneConfig, rng: np.random.Generator
) -> dict[str, Tensor]:
    """The two terms of one photo (see the module docstring)."""
    pick = torch.as_tensor(
        rng.choice(len(item.keep), size=min(len(item.keep), cfg.keep_crops), replace=False)
    )
    n = len(item.better)
    boxes = torch.cat([item.better, item.worse, item.keep[pick]])
    scores = _scores(model, item.feats, boxes)
    out = {"keep": cfg.keep_weight * F.smooth_l1_loss(scores[2 * n :], item.keep_scores[pick])}
    if n:
        gap = scores[:n] - scores[n : 2 * n]
        out["pairs"] = F.softplus(-cfg.pair_scale * gap).mean()
    return out


def tune(
    model: CropScorer,
    items: list[ReviewItem],
    cfg: FinetuneConfig,
    on_step: Callable[[dict[str, float]], None] | None = None,
) -> CropScorer:
    """Fine-tune ``model``'s heads on ``items``, in place (eval mode: no dropout, the features
    fixed); returns it."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    params = []
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(TUNED)
        if p.requires_grad:
            params.append(p)
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    model.eval()
    for _ in range(cfg.epochs):
        order = rng.permutation(len(items))
        for start in range(0, len(order), cfg.photos_per_step):
            batch = order[start : start + cfg.photos_per_step]
            parts: dict[str, Tensor] = {}
            for idx in batch:
                for key, value in photo_loss(model, items[idx], cfg, rng).items():
                    parts[key] = parts.get(key, 0) + value / len(batch)
            optimizer.zero_grad(set_to_none=True)
            sum(parts.values()).backward()
            optimizer.step()
            if on_step:
                on_step({k: float(v.detach()) for k, v in parts.items()})
    for p in model.parameters():
        p.requires_grad = False
    return model


@dataclass
class Learned:
    """What :func:`learn` made and from what."""

    out: Path
    n_photos: int
    n_pairs: int
    skipped: dict[str, int]


def learn(
    base: Checkpoint,
    photos: list[ReviewedPhoto],
    cfg: FinetuneConfig,
    out: Path,
    description: dict,
    reporter: Reporter | None = None,
    cache: dict | None = None,
) -> Learned:
    """Learn from ``photos`` starting at ``base``; write the checkpoint ``out`` (float16, as
    shipped) with ``description`` (base weights, review files, counts) in its metadata."""
    rep = reporter or Reporter()
    torch.manual_seed(cfg.seed)
    model = build_scorer(base, "cpu")
    items, skipped = [], {}
    rep.stage("reading the reviewed photos", len(photos))
    for photo in photos:
        got = prepare(model, photo, cache)
        if isinstance(got, str):
            skipped[got] = skipped.get(got, 0) + 1
        else:
            items.append(got)
        rep.advance()
    if not any(len(i.better) for i in items):
        raise SacropError("nothing to learn: no reviewed photo left with a choice to learn from")
    rep.stage("learning", cfg.epochs * math.ceil(len(items) / cfg.photos_per_step))
    tune(model, items, cfg, rep.advance)
    n_pairs = sum(len(i.better) for i in items)
    training = {
        "kind": "reviews",
        "finetune": asdict(cfg),
        **description,
        "reviews": {**description.get("reviews", {}), "learned_photos": len(items)},
        "pairs": n_pairs,
        "skipped": skipped,
    }
    meta = make_meta(
        model,
        training=training,
        lambda_cls=base.meta.get("lambda_cls"),
        delta=base.meta.get("delta"),
        metrics={},
    )
    save_checkpoint(out, model, meta)
    return Learned(out, len(items), n_pairs, skipped)
