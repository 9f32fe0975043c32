"""Validation after every epoch, as the benchmarks measure: FCDB's IoU, Disp, IoU told the human
crop's ratio and pair agreement; GAICD's Acc5, Acc10, SRCC and PCC."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from sacrop_cli.boxes import box_iou, ratio_of
from sacrop_cli.candidates import candidates_for, gaic_grid
from sacrop_cli.model.network import CropScorer, ImageFeatures
from sacrop_cli.train.features import Context, Item, as_rois, item_features, to_net
from sacrop_cli.train.metrics import (
    displacement,
    gaicd_image_metrics,
    pair_agreement,
    summarise_gaicd,
)


@torch.inference_mode()
def validate(ctx: Context, model: CropScorer, items: list[Item]) -> dict[str, float]:
    """FCDB: top-1 of the free-ratio grid (IoU, Disp), IoU told the human crop's ratio,
    agreement with voted pairs. GAICD: Acc/SRCC/PCC, as the benchmarks define them."""
    model.eval()
    ious, disps, ratio_ious, s0, s1, v0, v1, gaicd = [], [], [], [], [], [], [], []
    for item in items:
        feats = item_features(ctx, model, item)
        w, h = item.photo_size
        if item.best is not None:
            grid = gaic_grid(w, h)
            told = candidates_for(ratio_of(item.best), w, h)
            boxes = np.concatenate([grid, told]).astype(np.float32)
            scores = _score(ctx, model, feats, to_net(boxes, (w, h), item.net_size))
            top = boxes[int(np.argmax(scores[: len(grid)]))]
            ious.append(box_iou(top, item.best))
            disps.append(displacement(top, item.best, w, h))
            top_told = boxes[len(grid) + int(np.argmax(scores[len(grid) :]))]
            ratio_ious.append(box_iou(top_told, item.best))
            if len(item.pair_boxes):
                ps = _score(ctx, model, feats, item.pair_boxes.reshape(-1, 4)).reshape(-1, 2)
                s0.extend(ps[:, 0])
                s1.extend(ps[:, 1])
                v0.extend(item.pair_votes[:, 0])
                v1.extend(item.pair_votes[:, 1])
        elif item.mos is not None:
            gaicd.append(gaicd_image_metrics(_score(ctx, model, feats, item.boxes), item.mos))
    out: dict[str, float] = {}
    if ious:
        out.update(
            iou=float(np.mean(ious)),
            disp=float(np.mean(disps)),
            iou_told_ratio=float(np.mean(ratio_ious)),
        )
    if s0:
        agree = pair_agreement(np.array(s0), np.array(s1), np.array(v0), np.array(v1))
        out.update(pairs_decisive=agree["decisive"], pairs_all=agree["all"])
    if gaicd:
        summary = summarise_gaicd(gaicd)
        out.update(
            acc5=summary["acc5"],
            acc10=summary["acc10"],
            srcc=summary["srcc"],
            pcc=summary["pcc"],
        )
    return out


def _score(ctx: Context, model: CropScorer, feats: ImageFeatures, boxes: Tensor) -> np.ndarray:
    rois = as_rois(boxes, ctx.device)
    return model.score_embeddings(model.embed_crops(feats, rois)).float().cpu().numpy()
