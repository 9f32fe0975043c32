"""Evaluation metrics for FCDB (IoU, Disp, voted pairs) and GAICD (Acc, wAcc, SRCC, PCC).

Plain numpy so that `sacrop eval` and the tests never need torch. Boxes are
``(x1, y1, x2, y2)`` with exclusive ends (width = x2 - x1), as everywhere in sacrop.
Accuracies are fractions in [0, 1], not percentages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Top-K sizes and ground-truth cut-offs of the GAICD protocol.
GAICD_K = (1, 2, 3, 4)
GAICD_N = (5, 10)
#: wAcc weight decay; the GAIC TPAMI paper and its reference code use beta = 1.
WACC_BETA = 1.0
#: Vote margin from which an FCDB pair counts as decisive (5-0 and 4-1 with 5 voters).
DECISIVE_MARGIN = 3


def _acc_key(k: int, n: int) -> str:
    return f"{k}/{n}"


def displacement(pred: Sequence[float], gt: Sequence[float], width: float, height: float) -> float:
    """FCDB boundary displacement ("Disp") of ``pred`` from ``gt`` in an image ``width`` x
    ``height``.

    ``((|dx1| + |dx2|) / W + (|dy1| + |dy2|) / H) / 4``: the mean of the four edge offsets,
    each normalised by the image side it runs along. 0 means identical boxes.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    d = np.abs(p - g)
    return float(((d[0] + d[2]) / width + (d[1] + d[3]) / height) / 4.0)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` ascending; tied values share the mean of their positions."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    # Start index of each run of equal values in the sorted array.
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(xs)]
    run_rank = (starts + ends + 1) / 2.0  # mean of positions starts+1 .. ends
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(run_rank, ends - starts)
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (or has < 2 values): undefined."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"pearson: {x.size} vs {y.size} values")
    if x.size < 2:
        return math.nan
    xc = x - x.mean()
    yc = y - y.mean()
    sxx = float(xc @ xc)
    syy = float(yc @ yc)
    if sxx == 0.0 or syy == 0.0:
        return math.nan
    r = float(xc @ yc) / math.sqrt(sxx * syy)
    return max(-1.0, min(1.0, r))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman correlation: Pearson of average ranks (tie-corrected, same as scipy's default).

    NaN when either side is constant, like :func:`pearson`.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"spearman: {x.size} vs {y.size} values")
    return pearson(_average_ranks(x), _average_ranks(y))


def gaicd_image_metrics(pred: np.ndarray, mos: np.ndarray) -> dict:
    """GAICD metrics for ONE image: predicted scores ``pred`` [N] and human MOS ``mos`` [N].

    Returns ``{"acc": {"1/5": .., "4/10": ..}, "wacc": {same keys}, "srcc": float, "pcc": float}``.

    * Model's top-K: crops sorted by ``pred`` descending; equal predicted scores keep the
      crops' input order (stable sort), so the earlier crop ranks higher.
    * Acc_{K/N}: share of the top-K crops whose MOS >= m_N, the MOS of the N-th best annotated
      crop. Crops tied with m_N count as hits. When N exceeds the number of crops, m_N is the
      worst crop's MOS (every crop is then a hit).
    * wAcc_{K/N} (Zeng et al., TPAMI 2020; as in their reference code, beta = 1)::

          wAcc_{K/N} = (1/K) * sum_{k=1..K} [hit_k] * exp(-beta * (p_(k) - k) / N)

      where p_(1) <= ... <= p_(K) are the ground-truth ranks (1 = best MOS) of the model's
      top-K crops, sorted ascending, so p_(k) >= k and each weight is <= 1: a hit loses
      weight the further it sits below where a perfect top-K would have put it. Hits are the
      same as for Acc_{K/N}. MOS ties: the reference code ranks tied crops by input order; here
      tied crops are ordered in favour of the model's picks (p = 1 + #crops with a strictly
      higher MOS + #picks tied with it already ranked), which equals the reference code when
      MOS has no ties and does not depend on the input order.
    * srcc / pcc: Spearman (average ranks for ties) and Pearson between ``pred`` and ``mos``
      over this image's crops; NaN when either side is constant (undefined) --
      :func:`summarise_gaicd` skips NaNs when averaging.

    Needs at least max(K) = 4 crops: Acc_{4/N} is not defined for fewer.
    """
    pred = np.asarray(pred, dtype=np.float64).ravel()
    mos = np.asarray(mos, dtype=np.float64).ravel()
    if pred.shape != mos.shape:
        raise ValueError(f"gaicd_image_metrics: {pred.size} predictions vs {mos.size} MOS values")
    if pred.size < max(GAICD_K):
        raise ValueError(
            f"gaicd_image_metrics: need at least {max(GAICD_K)} crops, got {pred.size}"
        )

    top = np.argsort(-pred, kind="stable")[: max(GAICD_K)]
    top_mos = mos[top]
    mos_desc = np.sort(mos)[::-1]

    acc: dict[str, float] = {}
    wacc: dict[str, float] = {}
    for k in GAICD_K:
        picked = np.sort(top_mos[:k])[::-1]  # the model's K picks, best MOS first
        # Ground-truth rank favouring the picks among ties: picks with equal MOS take
        # consecutive positions right after all crops with a strictly higher MOS.
        higher = np.array([np.count_nonzero(mos > m) for m in picked])
        earlier_equal = np.array([np.count_nonzero(picked[:i] == m) for i, m in enumerate(picked)])
        p = 1 + higher + earlier_equal  # ascending, p[i] >= i + 1
        positions = np.arange(1, k + 1)
        for n in GAICD_N:
            m_n = mos_desc[min(n, mos.size) - 1]
            hit = picked >= m_n
            acc[_acc_key(k, n)] = float(np.count_nonzero(hit)) / k
            weights = np.exp(-WACC_BETA * (p - positions) / n)
            wacc[_acc_key(k, n)] = float(np.sum(weights[hit])) / k
    return {"acc": acc, "wacc": wacc, "srcc": spearman(pred, mos), "pcc": pearson(pred, mos)}


def _nanmean(values: Sequence[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return math.fsum(kept) / len(kept) if kept else math.nan


def summarise_gaicd(per_image: list[dict]) -> dict:
    """Average :func:`gaicd_image_metrics` results over images (per image first, not pooled).

    Returns ``{"acc": {"1/5": ..}, "wacc": {..}, "acc5", "acc10", "wacc5", "wacc10", "srcc",
    "pcc", "n_images"}``. ``acc5`` is the mean of Acc_{K/5} over K = 1..4 (``acc10``, ``wacc5``,
    ``wacc10`` likewise). SRCC/PCC skip images where they are NaN (constant scores or MOS); NaN
    only if every image was skipped.
    """
    if not per_image:
        raise ValueError("summarise_gaicd: no images")
    out: dict = {"acc": {}, "wacc": {}}
    for name in ("acc", "wacc"):
        for n in GAICD_N:
            for k in GAICD_K:
                key = _acc_key(k, n)
                out[name][key] = math.fsum(img[name][key] for img in per_image) / len(per_image)
            out[f"{name}{n}"] = math.fsum(out[name][_acc_key(k, n)] for k in GAICD_K) / len(GAICD_K)
    out["srcc"] = _nanmean([img["srcc"] for img in per_image])
    out["pcc"] = _nanmean([img["pcc"] for img in per_image])
    out["n_images"] = len(per_image)
    return out


def pair_agreement(
    score0: np.ndarray, score1: np.ndarray, votes0: np.ndarray, votes1: np.ndarray
) -> dict:
    """Agreement of model scores with the human majority on FCDB voted crop pairs [P].

    A pair agrees (1) when the crop with the higher score got more votes, disagrees (0) when
    it got fewer, and counts 0.5 when the two scores are equal (the model expresses no
    preference). Pairs with equal votes have no majority and are excluded from both figures.
    ``decisive`` covers pairs with a vote margin >= 3 (5-0, 4-1); ``all`` every pair with a
    majority. A share over zero pairs is NaN.

    Returns ``{"decisive": float, "all": float, "n_decisive": int, "n_all": int}``.
    """
    s0, s1, v0, v1 = (
        np.asarray(x, dtype=np.float64).ravel() for x in (score0, score1, votes0, votes1)
    )
    if not (s0.shape == s1.shape == v0.shape == v1.shape):
        raise ValueError("pair_agreement: score and vote arrays differ in length")
    vote_sign = np.sign(v0 - v1)
    margin = np.abs(v0 - v1)
    agree = np.where(s0 == s1, 0.5, (np.sign(s0 - s1) == vote_sign).astype(np.float64))
    voted = vote_sign != 0
    decisive = margin >= DECISIVE_MARGIN

    def share(mask: np.ndarray) -> float:
        return float(agree[mask].mean()) if mask.any() else math.nan

    return {
        "decisive": share(decisive),
        "all": share(voted),
        "n_decisive": int(np.count_nonzero(decisive)),
        "n_all": int(np.count_nonzero(voted)),
    }


def summarise_fcdb(ious: Sequence[float], disps: Sequence[float]) -> dict:
    """Mean IoU and mean Disp over FCDB test images: ``{"iou", "disp", "n"}``."""
    ious = np.asarray(ious, dtype=np.float64).ravel()
    disps = np.asarray(disps, dtype=np.float64).ravel()
    if ious.shape != disps.shape:
        raise ValueError(f"summarise_fcdb: {ious.size} IoUs vs {disps.size} Disps")
    if ious.size == 0:
        raise ValueError("summarise_fcdb: no images")
    return {"iou": float(ious.mean()), "disp": float(disps.mean()), "n": int(ious.size)}
