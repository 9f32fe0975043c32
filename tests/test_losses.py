import pytest
import torch

from sacrop_cli.train.losses import (
    classification_loss,
    consistency_loss,
    margin_ranking,
    regression_loss,
    upper_pairs,
)


def test_upper_pairs_order():
    i, j = upper_pairs(3)
    assert i.tolist() == [0, 0, 1] and j.tolist() == [1, 2, 2]


def test_consistency_zero_when_scores_agree_by_more_than_delta():
    scores = torch.tensor([3.0, 2.0, 1.0])
    verdicts = torch.tensor([0.9, 0.8, 0.7])  # the classifier: 0 > 1, 0 > 2, 1 > 2
    assert consistency_loss(scores, verdicts, delta=0.5).item() == 0.0


def test_consistency_positive_when_scores_disagree_or_agree_too_little():
    scores = torch.tensor([3.0, 2.0, 1.0])
    # pairs (0,1), (0,2), (1,2); the classifier says 1 > 0 for the first pair only
    verdicts = torch.tensor([0.2, 0.8, 0.7])
    # (0,1): sign -1: max(0, 0.5 - (2 - 3)) = 1.5 ; (0,2): max(0, 0.5 + (1 - 3)) = 0 ; (1,2): 0
    assert consistency_loss(scores, verdicts, delta=0.5).item() == pytest.approx(1.5 / 3)
    # agreeing, but by less than delta: (0,1) costs 0.5 + (2.8 - 3) = 0.3
    close = torch.tensor([3.0, 2.8, 1.0])
    assert consistency_loss(
        close, torch.tensor([0.9, 0.9, 0.9]), delta=0.5
    ).item() == pytest.approx(0.3 / 3)


def test_consistency_gradient_does_not_reach_the_verdicts():
    scores = torch.tensor([1.0, 1.0], requires_grad=True)
    verdicts = torch.tensor([0.9], requires_grad=True)
    consistency_loss(scores, verdicts, delta=0.1).backward()
    assert verdicts.grad is None
    assert scores.grad.tolist() == [-1.0, 1.0]  # push crop 0 up, crop 1 down


def test_regression_and_classification_by_hand():
    # Smooth L1 (beta 1): |0.5| -> 0.125, |2| -> 1.5 ; mean 0.8125
    assert regression_loss(
        torch.tensor([0.5, 2.0]), torch.tensor([0.0, 0.0])
    ).item() == pytest.approx(0.8125)
    # BCE of logit 0 is log 2 whatever the target
    assert classification_loss(torch.tensor([0.0]), torch.tensor([1.0])).item() == pytest.approx(
        0.693147, abs=1e-6
    )


def test_margin_ranking_by_hand():
    assert margin_ranking(
        torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.05]), 0.1
    ).item() == pytest.approx(0.075)
