"""Box primitives: IoU by hand, mirroring, clipping, the ratio of a box."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sacrop_cli.boxes import box_iou, box_iou_matrix, clip_boxes, hflip, ratio_of
from sacrop_cli.ratios import Ratio


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-15)


def test_iou_overlapping_boxes():
    # Overlap x 5..10, y 5..10 -> 5*5 = 25; union 100 + 100 - 25 = 175.
    assert box_iou((0, 0, 10, 10), (5, 5, 15, 15)) == approx(25 / 175)
    assert box_iou((0, 0, 10, 10), (5, 5, 15, 15)) == approx(0.14285714285714285)


def test_iou_disjoint_touching_identical_and_empty():
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    # Exclusive ends: x2 = 10 and x1 = 10 share no pixel column.
    assert box_iou((0, 0, 10, 10), (10, 0, 20, 10)) == 0.0
    assert box_iou((3, 4, 50, 60), (3, 4, 50, 60)) == 1.0
    # Union 0 -> defined as 0.0, not NaN.
    assert box_iou((5, 5, 5, 5), (5, 5, 5, 5)) == 0.0


def test_iou_matrix():
    a = np.array([[0, 0, 10, 10], [0, 0, 20, 10]], dtype=np.float32)
    b = np.array([[5, 5, 15, 15], [0, 0, 10, 10], [100, 100, 110, 110]], dtype=np.float32)
    m = box_iou_matrix(a, b)
    assert m.shape == (2, 3)
    # a0: 25/175; identical -> 1; disjoint -> 0.
    # a1 (area 200) vs b0: overlap x 5..15 (10) * y 5..10 (5) = 50, union 200+100-50 = 250 -> 0.2.
    # a1 vs b1: overlap 100, union 200 -> 0.5.
    expected = np.array([[0.14285714285714285, 1.0, 0.0], [0.2, 0.5, 0.0]])
    np.testing.assert_allclose(m, expected, rtol=1e-12, atol=0)


def test_hflip_exact_involution_for_numpy_and_torch() -> None:
    import torch

    boxes = np.array([[10, 20, 110, 220], [0, 0, 640, 480]], np.float32)
    flipped = hflip(boxes, 640)
    np.testing.assert_array_equal(flipped, [[530, 20, 630, 220], [0, 0, 640, 480]])
    assert flipped.dtype == np.float32 and boxes[0, 0] == 10  # a copy; the input untouched
    np.testing.assert_array_equal(hflip(flipped, 640), boxes)
    pairs = np.array([[[1, 2, 3, 4], [5, 6, 7, 8]]])  # [P, 2, 4] works too
    np.testing.assert_array_equal(hflip(pairs, 10), [[[7, 2, 9, 4], [3, 6, 5, 8]]])
    tensor = torch.tensor([[10.0, 20, 110, 220]])
    assert hflip(tensor, 640).tolist() == [[530.0, 20.0, 630.0, 220.0]] and tensor[0, 0] == 10


def test_clip_boxes() -> None:
    clipped = clip_boxes(np.float32([[-5, 3, 105, 60], [20, -1, 30, 40]]), 100, 50)
    np.testing.assert_array_equal(clipped, [[0, 3, 100, 50], [20, 0, 30, 40]])
    assert clipped.dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        clip_boxes(np.zeros((2, 3)), 10, 10)


def test_ratio_of_a_box_in_whole_pixels() -> None:
    assert ratio_of([10, 20, 410, 320]) == Ratio("fixed", 4, 3)
    assert ratio_of([0.4, 0, 1066.6, 600.2]).label == "533:300"


def test_iou_matrix_edges_by_hand() -> None:
    """The cases the clips and the empty-union guard are for, each computed by hand."""
    square = [0, 0, 10, 10]
    cases = [
        ([12, 0, 22, 10], 0.0),  # apart in x only: the negative width must not give a negative
        ([0, 12, 10, 22], 0.0),  # apart in y only
        ([0, 10, 10, 20], 0.0),  # touching along y: no shared row
        ([10, 0, 20, 10], 0.0),  # touching along x
        ([5, 0, 15, 10], 50 / 150),
    ]
    got = box_iou_matrix(np.array([square]), np.array([b for b, _ in cases]))
    assert got.tolist() == [[iou for _, iou in cases]]
    # sub-pixel boxes (float), whose areas and union are under one pixel
    thin = [0, 0, 0.5, 10]
    flat = [0, 0, 10, 0.5]
    tiny = [0, 0, 0.5, 0.5]
    assert box_iou_matrix(np.array([thin, flat, tiny]), np.array([thin, flat, tiny])).tolist() == [
        [1.0, 0.25 / 9.75, 0.25 / 5.0],
        [0.25 / 9.75, 1.0, 0.25 / 5.0],
        [0.25 / 5.0, 0.25 / 5.0, 1.0],
    ]


@pytest.mark.parametrize("dtype", [np.uint16, np.int32])
def test_iou_matrix_of_narrow_integer_boxes_is_computed_in_float(dtype) -> None:
    # unsigned: a negative overlap would wrap round; int32: a 50000 px square's area overflows
    far = box_iou_matrix(np.array([[0, 0, 10, 10]], dtype), np.array([[20, 20, 30, 30]], dtype))
    assert far.tolist() == [[0.0]]
    big = np.array([[0, 0, 50000, 50000]], dtype)
    half = np.array([[0, 0, 25000, 50000]], dtype)
    assert box_iou_matrix(big, half).tolist() == [[0.5]]


def test_clip_boxes_of_any_leading_shape() -> None:
    assert clip_boxes(np.array([-1, 2, 30, 40]), 20, 30).tolist() == [0, 2, 20, 30]
    pairs = clip_boxes(np.array([[[-1, 2, 30, 40], [1, 1, 2, 2]]]), 20, 30)
    assert pairs.tolist() == [[[0, 2, 20, 30], [1, 1, 2, 2]]]
    for bad, shape in ((np.float64(3), "()"), (np.zeros((2, 4, 3)), "(2, 4, 3)")):
        with pytest.raises(ValueError) as info:
            clip_boxes(bad, 10, 10)
        assert str(info.value) == f"boxes must have shape [..., 4], got {shape}"


def test_ratio_of_a_box_under_two_pixels() -> None:
    assert ratio_of([0, 0, 1, 3]) == Ratio("fixed", 1, 3)
    assert ratio_of([0, 0, 3, 1]) == Ratio("fixed", 3, 1)
    assert ratio_of([0, 0, 0.4, 3]) == Ratio("fixed", 1, 3)  # never a side of 0


# -- properties (hypothesis) --------------------------------------------------------------------

# whole pixels, or fractions of a pixel to a thousandth (as scaled boxes are)
coordinate = st.one_of(st.integers(0, 5000), st.floats(0, 5000).map(lambda v: round(v, 3)))
box = st.tuples(coordinate, coordinate, coordinate, coordinate)


def reference_iou(a, b) -> float:
    """IoU as its definition says, in plain Python: the overlap's area over the union's."""
    ow = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    oh = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])  # noqa: E731
    union = area(a) + area(b) - ow * oh
    return ow * oh / union if union > 0 else 0.0


@given(st.lists(box, min_size=1, max_size=5), st.lists(box, min_size=1, max_size=5))
def test_iou_is_symmetric_within_0_and_1_and_as_defined(a, b):
    m = box_iou_matrix(np.array(a, np.float64), np.array(b, np.float64))
    assert m.shape == (len(a), len(b))
    assert ((m >= 0) & (m <= 1)).all()
    np.testing.assert_array_equal(box_iou_matrix(np.array(b), np.array(a)), m.T)
    expected = [[reference_iou(x, y) for y in b] for x in a]
    np.testing.assert_allclose(m, expected, rtol=1e-12, atol=1e-12)


side = st.one_of(
    st.integers(1, 5000), st.floats(0.001, 5000).map(lambda v: max(round(v, 3), 0.001))
)


@given(coordinate, coordinate, side, side)
def test_a_box_with_an_area_overlaps_itself_wholly(x, y, w, h):
    b = (x, y, x + w, y + h)
    assert box_iou(b, b) == 1.0
