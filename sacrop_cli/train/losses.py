"""The losses of the poster: L_total = L_reg + lambda_cls * L_cls (labelled) + L_cons (unlabelled).

Scores are in normalised units (MOS normalised as (MOS - 2.95) / 0.8, or pseudo-scores on the
same scale); pair logits are those of :meth:`CropScorer.compare`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

MOS_MEAN, MOS_STD = 2.95, 0.8


def regression_loss(pred: Tensor, target: Tensor) -> Tensor:
    """L_reg: mean Smooth L1 between predicted and labelled scores of one image's crops."""
    return F.smooth_l1_loss(pred, target)


def classification_loss(logits: Tensor, target: Tensor) -> Tensor:
    """L_cls: BCE of the pair-wise classifier; ``target`` is q in [0, 1] (1: crop i is better)."""
    return F.binary_cross_entropy_with_logits(logits, target)


def upper_pairs(n: int, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Indices ``(i, j)`` of all pairs i < j of ``n`` crops."""
    idx = torch.triu_indices(n, n, offset=1, device=device)
    return idx[0], idx[1]


def consistency_loss(scores: Tensor, verdicts: Tensor, delta: float) -> Tensor:
    """L_cons over the crops of one unlabelled image.

    ``scores`` is ``[N]``; ``verdicts`` is ``[N*(N-1)/2]``: P(crop i better than crop j) for the
    pairs of :func:`upper_pairs`, in that order. Each pair costs
    ``max(0, delta + sign(p - 0.5) * (score_j - score_i))``, i.e. nothing once the scores agree
    with the classifier by at least ``delta``; the mean over pairs is the poster's
    ``2 / (N^2 - N)`` sum. The verdicts are targets: no gradient flows into them.
    """
    i, j = upper_pairs(len(scores), scores.device)
    sign = torch.sign(verdicts.detach() - 0.5)
    return torch.clamp(delta + sign * (scores[j] - scores[i]), min=0).mean()


def margin_ranking(better: Tensor, worse: Tensor, delta: float) -> Tensor:
    """Hinge on labelled pairs: the better crop's score should exceed the worse one's by delta."""
    return torch.clamp(delta - (better - worse), min=0).mean()
