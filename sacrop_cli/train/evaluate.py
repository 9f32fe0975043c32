"""The FCDB and GAICD benchmarks (their published protocols), run through the same
:class:`Cropper` as ``sacrop crop``.

FCDB: the free-ratio top-1 and the top-1 told the human crop's ratio come from
:meth:`Encoded.best_crops`, as ``sacrop crop --ratio any --top-k 1`` (or ``--ratio W:H``) finds
them (refined unless the cropper's ``refine`` is off), with the same image batches (sorted
paths, ``batch_size`` per batch), so both give the same boxes. GAICD: every annotated crop is
scored and compared with its MOS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sacrop_cli.api import Analysis, Cropper
from sacrop_cli.boxes import box_iou, ratio_of
from sacrop_cli.errors import DatasetError, SacropError
from sacrop_cli.ratios import parse_ratio
from sacrop_cli.train.datasets import LabelledImage, fcdb_names
from sacrop_cli.train.metrics import (
    displacement,
    gaicd_image_metrics,
    pair_agreement,
    summarise_fcdb,
    summarise_gaicd,
)


@dataclass
class EvalReport:
    summary: dict
    per_image: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def training_photos(meta: dict, names: Iterable[str]) -> set[str] | None:
    """Which of ``names`` trained the weights of ``meta`` (figures on them flatter the model).

    Weights record their training photos' names; older ones (the shipped weights among them)
    record only the labelled folder and its validation names: then the training photos are the
    names the folder's crop file lists (as recorded, relative to where training ran; no photo
    opened) less the validation names, when their count is the recorded one. None when
    neither tells.
    """
    data = (meta.get("training") or {}).get("data")
    if not isinstance(data, dict):
        return None
    if "train_names" in data:
        return set(data["train_names"]).intersection(names)
    labelled = data.get("labelled")
    if not isinstance(labelled, dict) or labelled.get("kind") != "fcdb" or "val_names" not in data:
        return None
    try:
        trained = set(fcdb_names(Path(labelled["path"]))) - set(data["val_names"])
    except (DatasetError, OSError, KeyError, TypeError):
        return None
    return trained.intersection(names) if len(trained) == data.get("n_train") else None


def _load_batches(
    cropper: Cropper, samples: list[LabelledImage], batch_size: int, problems: list[str]
):
    """Yield lists of (sample, analysis) in path order, ``batch_size`` at a time."""
    batch: list[tuple[LabelledImage, Analysis]] = []
    for sample in sorted(samples, key=lambda s: str(s.path)):
        try:
            batch.append((sample, cropper.load(sample.path)))
        except (SacropError, OSError) as exc:
            problems.append(str(exc))
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def evaluate_fcdb(
    cropper: Cropper,
    samples: list[LabelledImage],
    *,
    batch_size: int = 8,
    on_image: Callable[[], None] | None = None,
) -> EvalReport:
    """IoU and Disp of the free-ratio top-1 and of the top-1 told the human crop's ratio;
    agreement with the human-voted pairs when the samples have them."""
    per_image, problems = [], []
    s0, s1, v0, v1 = [], [], [], []
    for batch in _load_batches(cropper, samples, batch_size, problems):
        encoded = cropper.encode([a for _, a in batch])
        tops = encoded.best_crops([[parse_ratio("any"), ratio_of(s.best)] for s, _ in batch], 1)
        pair_scores_all = encoded.scores(
            [s.pair_boxes.reshape(-1, 4).astype(np.float64) for s, _ in batch]
        )
        for (sample, analysis), (top, told), scores in zip(batch, tops, pair_scores_all):
            w, h = analysis.full_size
            box, told_box = np.asarray(top.box, np.float64), np.asarray(told.box, np.float64)
            record = {
                "name": sample.name,
                "width": w,
                "height": h,
                "human": sample.best.tolist(),
                "box": top.box,
                "score": top.score,
                "iou": box_iou(box, sample.best),
                "disp": displacement(box, sample.best, w, h),
                "told_ratio": ratio_of(sample.best).label,
                "told_box": told.box,
                "iou_told_ratio": box_iou(told_box, sample.best),
            }
            if len(sample.pair_boxes):
                pair_scores = scores.reshape(-1, 2)
                record["pair_scores"] = pair_scores.tolist()
                s0.extend(pair_scores[:, 0])
                s1.extend(pair_scores[:, 1])
                v0.extend(sample.pair_votes[:, 0])
                v1.extend(sample.pair_votes[:, 1])
            per_image.append(record)
            if on_image:
                on_image()
    if not per_image:
        raise SacropError("no FCDB image could be evaluated")
    summary = summarise_fcdb([r["iou"] for r in per_image], [r["disp"] for r in per_image])
    summary["iou_told_ratio"] = float(np.mean([r["iou_told_ratio"] for r in per_image]))
    if s0:
        agree = pair_agreement(np.array(s0), np.array(s1), np.array(v0), np.array(v1))
        summary.update(
            pairs_decisive=agree["decisive"],
            pairs_all=agree["all"],
            n_pairs_decisive=agree["n_decisive"],
            n_pairs_all=agree["n_all"],
        )
    return EvalReport(summary, per_image, problems)


def evaluate_gaicd(
    cropper: Cropper,
    samples: list[LabelledImage],
    *,
    batch_size: int = 8,
    on_image: Callable[[], None] | None = None,
) -> EvalReport:
    """Acc_{K/N}, wAcc, mean per-image SRCC and PCC over the annotated crops (the GAICD
    protocol)."""
    per_image, problems, metrics = [], [], []
    for batch in _load_batches(cropper, samples, batch_size, problems):
        scores = cropper.score_many([a for _, a in batch], [s.crops for s, _ in batch])
        for (sample, _), pred in zip(batch, scores):
            m = gaicd_image_metrics(pred, sample.mos)
            metrics.append(m)
            per_image.append(
                {
                    "name": sample.name,
                    "boxes": sample.crops.astype(int).tolist(),
                    "mos": sample.mos.tolist(),
                    "scores": pred.tolist(),
                    **m,
                }
            )
            if on_image:
                on_image()
    if not per_image:
        raise SacropError("no GAICD image could be evaluated")
    return EvalReport(summarise_gaicd(metrics), per_image, problems)
