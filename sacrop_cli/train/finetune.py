"""Learning a person's taste from their reviews, in minutes on a CPU: the backbone, the
activation maps, the content and the spatial-aware features stay as trained, so each reviewed
photo's crops are encoded once, and only the layers that weigh those features (the embedding and
the regression) move, from the base weights.

Two terms per photo:

- the review pairs (:mod:`sacrop_cli.train.reviews`): a hinge on the score difference, better
  minus worse, so the person's choice climbs above what sacrop proposed by a margin; a pair
  already ordered so (a confirmation of what sacrop proposed, mostly) changes nothing, which
  keeps a reviewer who accepts everything from moving the weights;
- keeping the rest of the judgment: the base network's own scores of the photo's other
  candidates (its GAIC grid) as targets (Smooth L1), so that a few reviews move rank 1 toward
  the taste without unlearning composition.

Nothing is written until the weights are learned: Ctrl-C leaves no checkpoint, a finished run
one written whole (:func:`sacrop_cli.model.checkpoint.save_checkpoint`).
"""

from __future__ import annotations

import math
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
from sacrop_cli.model.network import CropScorer, build_scorer
from sacrop_cli.model.preprocess import boxes_to_rois, image_to_array, input_size
from sacrop_cli.train.reviews import NothingToLearn, ReviewedPhoto, photo_problem
from sacrop_cli.train.trainer import Reporter

#: The layers a review fine-tunes; the rest stays as the base weights have it.
TUNED = ("embed.", "regress.")


@dataclass
class FinetuneConfig:
    """Every choice of learning from reviews; stored in the checkpoint's metadata."""

    epochs: int = 20
    lr: float = 1e-3
    photos_per_step: int = 8
    margin: float = 0.1  # of the hinge on the pairs, normalised MOS units (the base's delta)
    keep_weight: float = 0.1  # weight of the base scores kept on the other candidates
    seed: int = 0


@dataclass
class ReviewItem:
    """A reviewed photo's crops, encoded up to the tuned layers: the grid candidates first,
    then the boxes of the pairs."""

    name: str
    fused: Tensor  # [K, D] content and spatial-aware features, the embedding's input
    base: Tensor  # [K] the base network's scores
    n_grid: int
    better: Tensor  # [P] indices of the better boxes
    worse: Tensor  # [P]


@torch.no_grad()
def prepare(
    model: CropScorer, photo: ReviewedPhoto, cache: dict | None = None
) -> ReviewItem | str:
    """The item of one photo, or why it is skipped ("missing", "size changed"). ``cache`` keeps
    photos' features for another learning from the same weights."""
    key = (str(photo.source), tuple(photo.size))
    if cache is None or key not in cache:
        found = _encode(model, photo)
        if cache is None:
            return found if isinstance(found, str) else _item(model, photo, found)
        cache[key] = found
    found = cache[key]
    return found if isinstance(found, str) else _item(model, photo, found)


def _encode(model: CropScorer, photo: ReviewedPhoto) -> tuple | str:
    """The photo's features and size, or why it cannot be read."""
    try:
        image, full = open_for_analysis(photo.source, DEFAULT_INPUT["short_side"])
    except (SacropError, OSError):
        full = None
    problem = photo_problem(photo, full)
    if problem is not None:
        return problem
    net = input_size(*full, DEFAULT_INPUT)
    x = torch.from_numpy(image_to_array(image, net, DEFAULT_INPUT))[None]
    return model.features(x), full, net


def _item(model: CropScorer, photo: ReviewedPhoto, found: tuple) -> ReviewItem:
    feats, full, net = found
    grid = gaic_grid(*full).tolist()
    boxes = list(dict.fromkeys(b for p in photo.pairs for b in (p.better, p.worse)))
    index = {b: len(grid) + i for i, b in enumerate(boxes)}
    arr = np.asarray([*grid, *boxes], np.float32).reshape(-1, 4)
    rois = torch.from_numpy(boxes_to_rois(arr, full, net)).float()
    fused = model.fused_parts(*model.crop_parts(feats, rois))
    return ReviewItem(
        str(photo.source),
        fused,
        model.score_embeddings(model.embed(fused)),
        len(grid),
        torch.as_tensor([index[p.better] for p in photo.pairs], dtype=torch.long),
        torch.as_tensor([index[p.worse] for p in photo.pairs], dtype=torch.long),
    )


def batch_loss(
    model: CropScorer, items: list[ReviewItem], cfg: FinetuneConfig
) -> dict[str, Tensor]:
    """The two terms (see the module docstring), each the mean over the photos of ``items``,
    whose crops are scored in one pass."""
    scores = model.score_embeddings(model.embed(torch.cat([i.fused for i in items])))
    keep, pairs, start = [], [], 0
    for item in items:
        own = scores[start : start + len(item.fused)]
        start += len(item.fused)
        keep.append(F.smooth_l1_loss(own[: item.n_grid], item.base[: item.n_grid]))
        if len(item.better):
            gap = own[item.better] - own[item.worse]
            pairs.append(torch.clamp(cfg.margin - gap, min=0).mean())
    out = {"keep": cfg.keep_weight * torch.stack(keep).mean()}
    if pairs:
        out["pairs"] = torch.stack(pairs).sum() / len(items)
    return out


def tune(
    model: CropScorer, items: list[ReviewItem], cfg: FinetuneConfig, reporter: Reporter
) -> CropScorer:
    """Fine-tune ``model``'s :data:`TUNED` layers on ``items``, in place (eval mode: no
    dropout); returns it."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    params = []
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith(TUNED)
        if p.requires_grad:
            params.append(p)
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    model.eval()
    reporter.stage("learning", cfg.epochs * math.ceil(len(items) / cfg.photos_per_step))
    for _ in range(cfg.epochs):
        order = rng.permutation(len(items))
        for start in range(0, len(order), cfg.photos_per_step):
            batch = order[start : start + cfg.photos_per_step]
            parts = batch_loss(model, [items[i] for i in batch], cfg)
            optimizer.zero_grad(set_to_none=True)
            sum(parts.values()).backward()
            optimizer.step()
            reporter.advance({k: float(v.detach()) for k, v in parts.items()})
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
        raise NothingToLearn("nothing to learn: no reviewed photo left with a choice to learn from")
    tune(model, items, cfg, rep)
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
