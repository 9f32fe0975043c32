"""The losses of one training step, photo by photo: L_reg, lambda_cls * L_cls and the pair hinge
of a labelled photo, L_cons of an unlabelled one.

- GAICD: annotated crops with MOS (normalised as (MOS - 2.95) / 0.8); classifier pairs from MOS;
- FCDB: one human crop and voted pairs; the grid candidates get pseudo-scores from their IoU
  with the human crop (standardised per image); classifier pairs from the votes and from
  clear IoU differences; a margin hinge on the decisive voted pairs;
- unlabelled photos: L_cons on grid candidates, driven by the classifier's verdicts.

In several processes each rank computes the losses of its share of a step's photos and makes,
for the others' photos, only their random draws (``mine`` false), so that every rank's
generators stay where a single process's would be.
"""

from __future__ import annotations

import torch
from PIL import Image
from torch import Tensor

from sacrop_cli.boxes import hflip
from sacrop_cli.train.features import Context, Item, as_rois, item_features, jitter
from sacrop_cli.train.losses import (
    classification_loss,
    consistency_loss,
    margin_ranking,
    regression_loss,
    upper_pairs,
)


def labelled_loss(ctx: Context, item: Item, mine: bool = True) -> dict[str, Tensor]:
    """L_reg, lambda_cls * L_cls and the pair hinge of one photo; ``{}`` when another rank
    computes it (``mine`` false), after the same random draws."""
    flip = bool(ctx.rng.random() < 0.5)
    w = item.net_size[0]
    n = len(item.boxes)
    pick = torch.as_tensor(ctx.rng.choice(n, size=min(n, ctx.cfg.crops_per_image), replace=False))
    boxes = item.boxes[pick]
    pair_boxes = item.pair_boxes
    if flip:
        boxes, pair_boxes = hflip(boxes, w), hflip(pair_boxes, w)
    all_boxes = torch.cat([boxes, pair_boxes.reshape(-1, 4)])
    k = len(boxes)
    targets = item.targets[pick]
    # classifier pairs: clearly ordered candidates, plus the human-voted pairs
    i, j = upper_pairs(k)
    gap = targets[i] - targets[j]
    clear = gap.abs() > 0.5
    li, lj, lq = [i[clear]], [j[clear]], [(gap[clear] > 0).float()]
    p0 = torch.arange(k, k + 2 * len(pair_boxes), 2)
    if len(pair_boxes):
        li.append(p0)
        lj.append(p0 + 1)
        lq.append(item.pair_q)
    ci, cj, cq = torch.cat(li), torch.cat(lj), torch.cat(lq)
    if len(ci) > 256:
        keep = torch.as_tensor(ctx.rng.choice(len(ci), 256, replace=False))
        ci, cj, cq = ci[keep], cj[keep], cq[keep]
    if not mine:
        draw_for_others(ctx, len(all_boxes))
        return {}
    feats = item_features(ctx, ctx.model, item, flip, train=True)
    rois = as_rois(all_boxes, ctx.device)
    emb = ctx.model.embed_crops(feats, rois)
    scores = ctx.model.score_embeddings(emb)
    out = {"reg": regression_loss(scores[:k], targets.to(ctx.device))}
    if len(pair_boxes):
        decisive = (item.pair_q - 0.5).abs() >= 0.3
        if decisive.any() and ctx.cfg.rank_weight > 0:
            first_wins = (item.pair_q[decisive] > 0.5).to(ctx.device)
            s0, s1 = scores[p0[decisive]], scores[p0[decisive] + 1]
            better, worse = torch.where(first_wins, s0, s1), torch.where(first_wins, s1, s0)
            out["rank"] = ctx.cfg.rank_weight * margin_ranking(better, worse, ctx.cfg.delta)
    if len(ci):
        logits = ctx.model.compare(emb[ci], emb[cj])
        out["cls"] = ctx.cfg.lambda_cls * classification_loss(logits, cq.to(ctx.device))
    return out


def unlabelled_loss(ctx: Context, item: Item, mine: bool = True) -> Tensor | None:
    """L_cons of one photo; None when another rank computes it, after the same draws."""
    flip = bool(ctx.rng.random() < 0.5)
    n = len(item.boxes)
    pick = torch.as_tensor(ctx.rng.choice(n, size=min(n, ctx.cfg.unlabelled_crops), replace=False))
    boxes = item.boxes[pick]
    if flip:
        boxes = hflip(boxes, item.net_size[0])
    if not mine:
        draw_for_others(ctx, len(boxes))
        return None
    feats = item_features(ctx, ctx.model, item, flip, train=True)
    rois = as_rois(boxes, ctx.device)
    emb = ctx.model.embed_crops(feats, rois)
    scores = ctx.model.score_embeddings(emb)
    i, j = upper_pairs(len(boxes), ctx.device)
    with torch.no_grad():
        verdicts = torch.sigmoid(ctx.model.compare(emb[i], emb[j]))
    return consistency_loss(scores, verdicts, ctx.cfg.delta)


def draw_for_others(ctx: Context, n_scores: int) -> None:
    """The torch draws of a photo another rank computes (the colour jitter of its image, the
    dropout of its ``n_scores`` scores), made by the same calls on stand-ins of the same
    shapes: without them this rank's torch generator would fall out of step."""
    if not ctx.cfg.freeze_backbone:
        jitter(Image.new("RGB", (1, 1)))
    with torch.no_grad():
        stand_in = torch.zeros(n_scores, ctx.model.config.embed_dim, device=ctx.device)
        ctx.model.score_embeddings(stand_in)
