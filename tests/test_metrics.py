"""Metric tests on tiny cases whose expected values are worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sacrop_cli.train.metrics import (
    displacement,
    gaicd_image_metrics,
    pair_agreement,
    pearson,
    spearman,
    summarise_fcdb,
    summarise_gaicd,
)

ACC_KEYS = ["1/5", "2/5", "3/5", "4/5", "1/10", "2/10", "3/10", "4/10"]

# exp(-0.1), exp(-0.2), exp(-0.3), exp(-0.8) to 16 digits (tables / calculator).
E01 = 0.9048374180359595
E02 = 0.8187307530779818
E03 = 0.7408182206817179
E08 = 0.4493289641172216


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------- IoU / Disp


def test_displacement():
    # W=200, H=100: |dx1|=10, |dx2|=10 -> 20/200 = 0.1; |dy1|=20, |dy2|=20 -> 40/100 = 0.4;
    # (0.1 + 0.4) / 4 = 0.125.
    assert displacement((10, 20, 90, 80), (0, 0, 100, 100), 200, 100) == approx(0.125)
    assert displacement((0, 0, 100, 100), (0, 0, 100, 100), 200, 100) == 0.0
    with pytest.raises(ValueError):
        displacement((0, 0, 1, 1), (0, 0, 1, 1), 0, 100)


# ---------------------------------------------------------------- GAICD Acc / wAcc


def test_acc_and_wacc_with_mos_ties_and_n_beyond_crop_count():
    mos = np.array([5, 4, 3, 3, 3, 1], dtype=np.float32)
    pred = np.array([0.1, 0.9, 0.8, 0.2, 0.3, 0.7], dtype=np.float32)
    # Model's order: crop1 (MOS 4), crop2 (MOS 3), crop5 (MOS 1), crop4 (MOS 3).
    # N=5: MOS sorted 5,4,3,3,3,1 -> m_5 = 3; crops tied with 3 count as hits.
    # N=10 > 6 crops -> m_10 = worst MOS = 1 -> every pick is a hit.
    r = gaicd_image_metrics(pred, mos)
    assert sorted(r["acc"]) == sorted(ACC_KEYS)
    assert r["acc"]["1/5"] == 1.0  # {4}
    assert r["acc"]["2/5"] == 1.0  # {4, 3}
    assert r["acc"]["3/5"] == approx(2 / 3)  # {4, 3, 1}
    assert r["acc"]["4/5"] == 0.75  # {4, 3, 1, 3}
    for k in (1, 2, 3, 4):
        assert r["acc"][f"{k}/10"] == 1.0

    # wAcc ground-truth ranks (1 = best), picks sorted by rank:
    #   MOS 4 -> p=2; MOS 3 -> p=3 (two higher); a second MOS-3 pick -> p=4 (tie resolved in
    #   the picks' favour); MOS 1 -> p=6.
    # K=1: p=(2)      diffs (1)         N=5: e^-.2/1         N=10: e^-.1/1
    # K=2: p=(2,3)    diffs (1,1)       N=5: 2e^-.2/2        N=10: 2e^-.1/2
    # K=3: p=(2,3,6)  diffs (1,1,3)     N=5: 2e^-.2/3 (p=6 misses)   N=10: (2e^-.1 + e^-.3)/3
    # K=4: p=(2,3,4,6) diffs (1,1,1,2)  N=5: 3e^-.2/4        N=10: (3e^-.1 + e^-.2)/4
    assert r["wacc"]["1/5"] == approx(E02)
    assert r["wacc"]["2/5"] == approx(E02)
    assert r["wacc"]["3/5"] == approx(0.5458205020519879)
    assert r["wacc"]["4/5"] == approx(0.6140480648084864)
    assert r["wacc"]["1/10"] == approx(E01)
    assert r["wacc"]["2/10"] == approx(E01)
    assert r["wacc"]["3/10"] == approx(0.8501643522512123)  # (1.809674836071919 + E03) / 3
    assert r["wacc"]["4/10"] == approx(0.8833107517964651)  # (2.7145122541078785 + E02) / 4


def test_acc_and_wacc_with_twelve_crops():
    # Crop i has MOS 12 - i (no ties), so its ground-truth rank is i + 1.
    mos = np.arange(12, 0, -1).astype(np.float64)
    pred = np.zeros(12)
    pred[[11, 9, 0, 10]] = [4.0, 3.0, 2.0, 1.0]  # model picks MOS 1, 3, 12, 2
    r = gaicd_image_metrics(pred, mos)
    # m_5 = 8, m_10 = 3.
    assert [r["acc"][f"{k}/5"] for k in (1, 2, 3, 4)] == [0.0, 0.0, approx(1 / 3), 0.25]
    assert [r["acc"][f"{k}/10"] for k in (1, 2, 3, 4)] == [0.0, 0.5, approx(2 / 3), 0.5]
    # K=4: ranks sorted (1, 10, 11, 12) at positions 1..4.
    #   N=5: only p=1 hits, weight e^0 = 1 -> 1/4.
    #   N=10: p=1 (w=1) and p=10 at position 2 (w=e^-(8/10)) hit -> (1 + e^-.8)/4.
    assert r["wacc"]["4/5"] == 0.25
    assert r["wacc"]["4/10"] == approx((1 + E08) / 4)
    assert r["wacc"]["4/10"] == approx(0.3623322410293054)
    # K=1: rank 12 misses both -> 0.
    assert r["wacc"]["1/5"] == 0.0 and r["wacc"]["1/10"] == 0.0


def test_acc_with_identical_predicted_scores_uses_input_order():
    # All predictions equal -> top-K = the first K crops: MOS 1, 6, 5, 4.
    # MOS sorted 6,5,4,3,2,1 -> m_5 = 2; m_10 = 1 (only 6 crops).
    mos = np.array([1, 6, 5, 4, 3, 2], dtype=np.float64)
    r = gaicd_image_metrics(np.full(6, 0.5), mos)
    assert [r["acc"][f"{k}/5"] for k in (1, 2, 3, 4)] == [0.0, 0.5, approx(2 / 3), 0.75]
    assert [r["acc"][f"{k}/10"] for k in (1, 2, 3, 4)] == [1.0, 1.0, 1.0, 1.0]
    # Constant predictions: the correlations are undefined.
    assert math.isnan(r["srcc"]) and math.isnan(r["pcc"])


def test_gaicd_rejects_bad_input():
    with pytest.raises(ValueError):
        gaicd_image_metrics(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError):
        gaicd_image_metrics(np.zeros(3), np.zeros(3))


# ---------------------------------------------------------------- SRCC / PCC


def test_spearman_and_pearson_with_ties():
    x = np.array([1, 2, 2, 4], dtype=np.float64)
    y = np.array([1, 3, 2, 4], dtype=np.float64)
    # Average ranks: x -> (1, 2.5, 2.5, 4), y -> (1, 3, 2, 4); both means 2.5.
    # Deviations: x (-1.5, 0, 0, 1.5), y (-1.5, .5, -.5, 1.5).
    # Sxy = 2.25 + 2.25 = 4.5; Sxx = 4.5; Syy = 5 -> r = 4.5 / sqrt(22.5) = sqrt(0.9).
    assert spearman(x, y) == approx(0.9486832980505138)
    # Pearson on raw values: means 2.25 and 2.5.
    # dx (-1.25, -.25, -.25, 1.75), dy (-1.5, .5, -.5, 1.5)
    # Sxy = 1.875 - .125 + .125 + 2.625 = 4.5; Sxx = 4.75; Syy = 5 -> 4.5 / sqrt(23.75).
    assert pearson(x, y) == approx(0.9233805168766388)
    r = gaicd_image_metrics(x, y)
    assert r["srcc"] == approx(0.9486832980505138)
    assert r["pcc"] == approx(0.9233805168766388)


def test_correlations_perfect_and_constant():
    assert spearman([1, 2, 3], [10, 20, 40]) == approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == approx(-1.0)
    assert math.isnan(spearman([1, 2, 3], [2, 2, 2]))
    assert math.isnan(pearson([2, 2, 2], [1, 2, 3]))
    assert math.isnan(pearson([1], [1]))


# ---------------------------------------------------------------- summaries


def _image(acc: list[float], wacc: list[float], srcc: float, pcc: float) -> dict:
    return {
        "acc": dict(zip(ACC_KEYS, acc)),
        "wacc": dict(zip(ACC_KEYS, wacc)),
        "srcc": srcc,
        "pcc": pcc,
    }


def test_summarise_gaicd():
    a = _image([1, 1, 0.5, 0.5, 1, 1, 1, 1], [1, 0.5, 0.5, 0.5, 1, 1, 1, 1], 0.5, 0.2)
    b = _image(
        [0, 0.5, 0.5, 0.25, 1, 0.5, 0.5, 0.75], [0, 0, 0, 0, 1, 0.5, 0.5, 0.5], math.nan, 0.6
    )
    s = summarise_gaicd([a, b])
    # Per-key means: acc/5 (0.5, 0.75, 0.5, 0.375), acc/10 (1, 0.75, 0.75, 0.875).
    assert [s["acc"][k] for k in ACC_KEYS] == [0.5, 0.75, 0.5, 0.375, 1.0, 0.75, 0.75, 0.875]
    # acc5 = (0.5 + 0.75 + 0.5 + 0.375)/4 = 2.125/4; acc10 = 3.375/4.
    assert s["acc5"] == 0.53125
    assert s["acc10"] == 0.84375
    # wacc/5 (0.5, 0.25, 0.25, 0.25) -> 1.25/4; wacc/10 (1, 0.75, 0.75, 0.75) -> 3.25/4.
    assert s["wacc"]["1/5"] == 0.5 and s["wacc"]["4/10"] == 0.75
    assert s["wacc5"] == 0.3125
    assert s["wacc10"] == 0.8125
    assert s["srcc"] == 0.5  # NaN of image b skipped
    assert s["pcc"] == approx(0.4)  # (0.2 + 0.6) / 2
    assert s["n_images"] == 2


def test_summarise_gaicd_all_nan_and_empty():
    s = summarise_gaicd([_image([1] * 8, [1] * 8, math.nan, math.nan)])
    assert math.isnan(s["srcc"]) and math.isnan(s["pcc"])
    assert s["acc5"] == 1.0 and s["n_images"] == 1
    with pytest.raises(ValueError):
        summarise_gaicd([])


def test_summarise_fcdb():
    s = summarise_fcdb([0.5, 0.75, 1.0], [0.1, 0.0, 0.05])
    assert s["iou"] == 0.75  # 2.25 / 3
    assert s["disp"] == approx(0.05)  # 0.15 / 3
    assert s["n"] == 3
    with pytest.raises(ValueError):
        summarise_fcdb([0.5], [0.1, 0.2])
    with pytest.raises(ValueError):
        summarise_fcdb([], [])


# ---------------------------------------------------------------- FCDB pairs


def test_pair_agreement():
    #        votes   scores        verdict
    # pair0  5-0     0.9 > 0.1     agree 1          decisive
    # pair1  1-4     0.8 > 0.2     disagree 0       decisive
    # pair2  3-2     0.6 > 0.4     agree 1          (3-2: counted in "all" only)
    # pair3  4-1     0.5 = 0.5     tie 0.5          decisive
    # pair4  2-2     0.7 > 0.3     no majority -> excluded everywhere
    # pair5  2-3     0.2 < 0.7     agree 1
    s0 = [0.9, 0.8, 0.6, 0.5, 0.7, 0.2]
    s1 = [0.1, 0.2, 0.4, 0.5, 0.3, 0.7]
    v0 = [5, 1, 3, 4, 2, 2]
    v1 = [0, 4, 2, 1, 2, 3]
    r = pair_agreement(s0, s1, v0, v1)
    # decisive: (1 + 0 + 0.5) / 3 = 0.5; all: (1 + 0 + 1 + 0.5 + 1) / 5 = 0.7
    assert r == {"decisive": 0.5, "all": approx(0.7), "n_decisive": 3, "n_all": 5}
    assert isinstance(r["n_decisive"], int) and isinstance(r["n_all"], int)


def test_pair_agreement_without_decisive_pairs():
    r = pair_agreement([1.0], [0.0], [2], [3])  # one 2-3 pair, model prefers crop 0 -> 0
    assert math.isnan(r["decisive"]) and r["n_decisive"] == 0
    assert r["all"] == 0.0 and r["n_all"] == 1
    with pytest.raises(ValueError):
        pair_agreement([1.0, 2.0], [0.0], [2], [3])
