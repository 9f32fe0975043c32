import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sacrop_cli.boxes import box_iou_matrix as iou_matrix
from sacrop_cli.candidates import (
    alternatives,
    candidates_for,
    fit_box,
    gaic_grid,
    neighbours,
    ratio_windows,
)
from sacrop_cli.ratios import parse_ratio


def test_gaic_grid_square_matches_method():
    boxes = gaic_grid(1200, 1200)
    # 12 bins of 100 px; corners at bin centres 50, 150, 250, 350 and 850 .. 1150
    assert len(boxes) == 90
    assert boxes[:3].tolist() == [[50, 50, 850, 950], [50, 50, 850, 1050], [50, 50, 850, 1150]]
    assert boxes[-1].tolist() == [350, 250, 1150, 1150]
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (w * h >= 0.5 * 1200 * 1200 - 1).all()
    assert ((w / h > 0.5) & (w / h < 2)).all()


def test_gaic_grid_3_2_count():
    assert len(gaic_grid(1500, 1000)) == 83


def test_gaic_grid_panorama_falls_back_to_unbounded_ratio():
    boxes = gaic_grid(20000, 100)
    assert len(boxes) > 0
    assert boxes[:, 2].max() <= 20000 and boxes[:, 3].max() <= 100


@pytest.mark.parametrize("ratio", ["4:3", "1:1", "16:9", "9:16", "3:2", "7:5"])
@pytest.mark.parametrize("size", [(1600, 1067), (1065, 1600), (451, 300), (512, 512)])
def test_fixed_ratio_windows_are_the_ratio_to_the_nearest_pixel(ratio, size):
    r = parse_ratio(ratio)
    boxes = candidates_for(r, *size)
    assert len(boxes) > 0  # the checks below hold for an empty array too
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (np.abs(h - w * r.h / r.w) <= 0.5).all() or (np.abs(w - h * r.w / r.h) <= 0.5).all()
    assert (
        (boxes[:, :2] >= 0).all()
        and (boxes[:, 2] <= size[0]).all()
        and (boxes[:, 3] <= size[1]).all()
    )


def test_largest_window_is_offered():
    boxes = ratio_windows(1600, 1200, 16, 9)
    full_width = boxes[boxes[:, 2] - boxes[:, 0] == 1600].tolist()
    assert full_width == [
        [0, 0, 1600, 900],
        [0, 100, 1600, 1000],
        [0, 200, 1600, 1100],
        [0, 300, 1600, 1200],
    ]


def test_original_ratio_includes_whole_image():
    boxes = candidates_for(parse_ratio("original"), 1600, 1067)
    assert [0, 0, 1600, 1067] in boxes.tolist()


def test_alternatives_are_the_best_visibly_different_framings():
    boxes = np.array(
        [[0, 0, 100, 100], [1, 0, 101, 100], [50, 50, 150, 150], [0, 0, 50, 50], [0, 0, 100, 70]]
    )
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.85])
    # after box 3 (first): box 0 (IoU 0.25 with box 3); box 1 overlaps box 0 by 0.98 and box 4
    # by 0.70 (> 0.6): skipped; box 2 overlaps box 0 by 2500 / 17500 = 0.14
    assert alternatives(boxes, scores, 3, 2) == [0, 2]
    assert alternatives(boxes, scores, 3, 0) == []
    assert alternatives(boxes, scores, 3, 10) == [0, 2]  # no more different ones
    assert alternatives(boxes, scores, 0, 1, max_iou=0.99) == [3]


def test_alternatives_ties_are_stable():
    boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]])
    assert alternatives(boxes, np.array([1.0, 1.0, 1.0]), 2, 2) == [0, 1]


def test_iou_matrix_by_hand():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 5, 15, 15], [10, 10, 20, 20]])
    np.testing.assert_allclose(iou_matrix(a, b), [[25 / 175, 0.0]])


def test_neighbours_of_a_free_box_move_each_edge_by_a_third_of_a_bin():
    # 360 x 240: a step is 10 x 7 pixels (1/36 of each side)
    got = neighbours(np.array([36, 20, 300, 200]), parse_ratio("any"), 360, 240)
    assert sorted(got.tolist()) == sorted(
        [
            [26, 20, 300, 200],
            [46, 20, 300, 200],
            [36, 13, 300, 200],
            [36, 27, 300, 200],
            [36, 20, 290, 200],
            [36, 20, 310, 200],
            [36, 20, 300, 193],
            [36, 20, 300, 207],
        ]
    )


def test_free_neighbours_stop_at_the_edge_and_keep_the_aspect_bounds():
    got = neighbours(np.array([5, 0, 300, 200]), parse_ratio("any"), 360, 240).tolist()
    assert [0, 0, 300, 200] in got  # x1 - 10 stops at the edge
    assert (
        not any(b[1] < 0 for b in got) and [5, 0, 300, 200] not in got
    )  # y1 cannot move out: dropped
    # 290 x 146 is just under 2:1; widening it or making it lower would cross 2:1
    got = neighbours(np.array([0, 60, 290, 206]), parse_ratio("any"), 360, 240).tolist()
    assert (
        [0, 60, 300, 206] not in got
        and [0, 67, 290, 206] not in got
        and [0, 60, 290, 199] not in got
    )
    assert [0, 53, 290, 206] in got and [0, 60, 280, 206] in got


def test_fixed_ratio_neighbours_shift_and_scale_keeping_the_ratio():
    got = neighbours(np.array([20, 20, 180, 140]), parse_ratio("4:3"), 360, 240).tolist()
    assert sorted(got) == [
        [10, 12, 190, 147],
        [10, 20, 170, 140],
        [20, 13, 180, 133],
        [20, 27, 180, 147],
        [30, 20, 190, 140],
        [30, 28, 170, 133],
    ]
    # the largest 4:3 window: only a shift right and a shrink fit in the photo
    got = neighbours(np.array([0, 0, 320, 240]), parse_ratio("4:3"), 360, 240).tolist()
    assert got == [[10, 0, 330, 240], [10, 8, 310, 233]]
    for x1, y1, x2, y2 in got:
        assert abs((y2 - y1) - (x2 - x1) * 3 / 4) <= 0.5


def test_original_ratio_neighbours_keep_the_photo_shape():
    for x1, y1, x2, y2 in neighbours(
        np.array([30, 20, 330, 220]), parse_ratio("original"), 360, 240
    ):
        assert (
            abs((y2 - y1) - (x2 - x1) * 2 / 3) <= 0.5
            and 0 <= x1 < x2 <= 360
            and 0 <= y1 < y2 <= 240
        )


def test_a_drawn_box_is_fitted_to_its_ratio_exactly_about_its_centre():
    # area 190 x 150 -> sqrt(28500 / 12) = 48.7 -> 49 steps of 4 x 3: 196 x 147 about (105, 95)
    assert fit_box([10, 20, 200, 170], parse_ratio("4:3"), 400, 300) == (7, 22, 203, 169)
    # too big and off the photo: the largest exact box (100 steps), pushed inside
    assert fit_box([-50, -50, 500, 400], parse_ratio("4:3"), 400, 300) == (0, 0, 400, 300)
    assert fit_box([390, 290, 420, 310], parse_ratio("1:1"), 400, 300) == (376, 276, 400, 300)


def test_a_drawn_box_of_a_coarse_ratio_is_exact_to_the_nearest_pixel():
    # 191:100 fits twice in 400 x 300: too coarse, so the windows' rounding (round(200 / 1.91))
    assert fit_box([0, 0, 200, 105], parse_ratio("1.91:1"), 400, 300) == (0, 0, 200, 105)
    # the photo's own ratio 401:300 fits once: likewise
    assert fit_box([0, 0, 200, 150], parse_ratio("original"), 401, 300) == (0, 0, 200, 150)


def test_a_drawn_box_of_any_ratio_keeps_its_shape_inside_the_photo():
    assert fit_box([10.4, 20.6, 110.5, 60], parse_ratio("any"), 400, 300) == (10, 21, 110, 60)
    assert fit_box([-20, 0, 30, 10], parse_ratio("any"), 400, 300) == (0, 0, 50, 10)


def _every_position(width: int, height: int, sizes: list[tuple[int, int]]) -> list[list[int]]:
    return sorted(
        [x, y, x + w, y + h]
        for w, h in sizes
        for x in range(width - w + 1)
        for y in range(height - h + 1)
    )


def test_windows_of_a_small_photo_by_hand():
    """12 x 9 and 12 bins: positions step by one pixel, so every position of each size is a
    window. Sizes for 4:3, largest first: floor(12 s) wide for s = 1, 0.95, ... (12, 11, 10,
    10, 9, 9, 8), each round(w * 3 / 4) high; at s = 0.65 a 7 x 5 window keeps under 40% of the
    photo and ends the scales. (A mutant returning no windows passes every check made with
    ``.all()`` on an empty array; this one counts.)"""
    boxes = ratio_windows(12, 9, 4, 3)
    assert boxes.dtype == np.int64
    expected = _every_position(12, 9, [(12, 9), (11, 8), (10, 8), (9, 7), (8, 6)])
    assert len(expected) == 1 + 4 + 6 + 12 + 20
    assert boxes.tolist() == expected
    # portrait: floor(9 s) wide (9, 8, 8, 7, 7, 6, 6), round(w * 4 / 3) high
    assert ratio_windows(9, 12, 3, 4).tolist() == _every_position(
        9, 12, [(9, 12), (8, 11), (7, 9), (6, 8)]
    )
    # a landscape ratio on a portrait photo: full width, floor(9 s) (9, 8, 8, 7, 7, 6, 6)
    assert ratio_windows(9, 12, 4, 3).tolist() == _every_position(
        9, 12, [(9, 7), (8, 6), (7, 5), (6, 4)]
    )


def test_windows_keep_the_scale_whose_window_holds_over_40_percent():
    # 120 x 90 at s = 0.65: 78 x 58 = 4524 px > 40% of 10800 (4320): kept; 0.6 (72 x 54) ends
    sizes = {(x2 - x1, y2 - y1) for x1, y1, x2, y2 in ratio_windows(120, 90, 4, 3).tolist()}
    assert sorted(sizes) == [(78, 58), (84, 63), (90, 68), (96, 72), (102, 76), (108, 81),
                             (114, 86), (120, 90)]  # fmt: skip


def test_grid_excludes_aspect_exactly_two_and_falls_back_with_its_bins():
    # 2400 x 1200: cells of 200 x 100; corners in cells (0, 0) and (9, 9) make 1800 x 900 = 2:1
    landscape = gaic_grid(2400, 1200).tolist()
    assert [100, 50, 1900, 950] not in landscape and [100, 50, 1900, 1050] in landscape
    portrait = gaic_grid(1200, 2400).tolist()
    assert [50, 100, 950, 1900] not in portrait and [50, 100, 1050, 1900] in portrait
    assert gaic_grid(2400, 1200).dtype == np.int64
    panorama = gaic_grid(20000, 100, bins=6)
    assert panorama.tolist() == gaic_grid(20000, 100, bins=6, free_ratio=False).tolist() != []


def test_an_alternative_overlapping_exactly_the_limit_is_kept():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 6, 10], [50, 50, 60, 60]])
    assert iou_matrix(boxes[[0]], boxes[[1]]).tolist() == [[0.6]]  # 60 / 100
    assert alternatives(boxes, np.array([3.0, 2.0, 1.0]), 0, 2) == [1, 2]


def test_neighbours_on_a_small_photo_move_by_one_pixel():
    # 36 x 24: 1/36 of each side is one pixel
    got = neighbours(np.array([6, 4, 30, 22]), parse_ratio("any"), 36, 24)
    assert sorted(got.tolist()) == [
        [5, 4, 30, 22],
        [6, 3, 30, 22],
        [6, 4, 29, 22],
        [6, 4, 30, 21],
        [6, 4, 30, 23],
        [6, 4, 31, 22],
        [6, 5, 30, 22],
        [7, 4, 30, 22],
    ]


def test_neighbours_take_float_boxes_and_return_whole_pixels():
    for ratio, box in (("4:3", [20, 20, 180, 140]), ("any", [36, 20, 300, 200])):
        ints = neighbours(np.array(box), parse_ratio(ratio), 360, 240)
        floats = neighbours(np.array(box, dtype=np.float64), parse_ratio(ratio), 360, 240)
        assert floats.dtype == np.int64 and floats.tolist() == ints.tolist()


def test_fixed_neighbours_at_the_top_edge_stop_there():
    # shifted up by 7 the window would leave the photo: it stops at 0, where it already is
    # (dropped); grown to 180 x 135 about its centre (y 60 - 67.5) it is pushed down to 0
    got = neighbours(np.array([20, 0, 180, 120]), parse_ratio("4:3"), 360, 240).tolist()
    assert got == [
        [10, 0, 170, 120],
        [10, 0, 190, 135],
        [20, 7, 180, 127],
        [30, 0, 190, 120],
        [30, 8, 170, 113],
    ]


def test_free_neighbours_at_the_far_edges_and_of_thin_boxes():
    # at the right and bottom edges, moving out stops there: dropped
    got = neighbours(np.array([36, 20, 360, 240]), parse_ratio("any"), 360, 240).tolist()
    assert sorted(got) == [
        [26, 20, 360, 240],
        [36, 13, 360, 240],
        [36, 20, 350, 240],
        [36, 20, 360, 233],
        [36, 27, 360, 240],
        [46, 20, 360, 240],
    ]
    # 11 wide: moving an edge in by 10 leaves 1 pixel (kept); 10 wide leaves none (dropped)
    got = neighbours(np.array([0, 0, 11, 200]), parse_ratio("any"), 360, 240).tolist()
    assert [0, 0, 1, 200] in got and [10, 0, 11, 200] in got and len(got) == 6
    got = neighbours(np.array([0, 0, 10, 200]), parse_ratio("any"), 360, 240).tolist()
    assert sorted(got) == [[0, 0, 10, 193], [0, 0, 10, 207], [0, 0, 20, 200], [0, 7, 10, 200]]
    got = neighbours(np.array([0, 0, 200, 7]), parse_ratio("any"), 360, 240).tolist()
    assert [0, 0, 200, 0] not in got and [0, 7, 200, 7] not in got and len(got) == 4


@pytest.mark.parametrize(
    ("box", "size", "beyond"),
    [
        ([0, 0, 200, 100], (360, 240), [0, 0, 210, 100]),  # exactly 2:1: not inside the bounds
        ([0, 0, 100, 200], (360, 240), [0, 0, 90, 200]),  # exactly 1:2
    ],
)
def test_a_box_on_the_aspect_bounds_is_not_held_to_them(box, size, beyond):
    assert beyond in neighbours(np.array(box), parse_ratio("any"), *size).tolist()


@pytest.mark.parametrize(
    ("box", "size", "crossing"),
    [
        ([70, 60, 360, 206], (360, 240), [60, 60, 360, 206]),  # 290 x 146 -> 300 x 146
        ([0, 300, 290, 446], (360, 600), [0, 300, 300, 446]),
    ],
)
def test_a_box_inside_the_aspect_bounds_stays_inside(box, size, crossing):
    got = neighbours(np.array(box), parse_ratio("any"), *size).tolist()
    assert crossing not in got and len(got) == 4
    assert all(0.5 < (x2 - x1) / (y2 - y1) < 2 for x1, y1, x2, y2 in got)


# -- properties (hypothesis) --------------------------------------------------------------------

sides = st.integers(16, 3000)
fixed_ratios = st.tuples(st.integers(1, 30), st.integers(1, 30)).filter(
    lambda r: max(r) / min(r) <= 16
)
requested = st.one_of(
    fixed_ratios.map(lambda r: parse_ratio(r)), st.sampled_from([parse_ratio("original")])
)


def _terms(ratio, width: int, height: int) -> tuple[int, int]:
    return (width, height) if ratio.kind == "original" else (ratio.w, ratio.h)


def _of_ratio_to_the_pixel(boxes: np.ndarray, rw: int, rh: int) -> bool:
    """Each box is rw:rh once one side is rounded: its height is round(width * rh / rw), or its
    width round(height * rw / rh) (the side the photo limits)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return bool(((np.abs(h - w * rh / rw) <= 0.5) | (np.abs(w - h * rw / rh) <= 0.5)).all())


def _inside(boxes: np.ndarray, width: int, height: int) -> bool:
    x1, y1, x2, y2 = boxes.T
    inside_x = (0 <= x1) & (x1 < x2) & (x2 <= width)
    return bool((inside_x & (0 <= y1) & (y1 < y2) & (y2 <= height)).all())


@given(requested, sides, sides)
def test_every_candidate_is_inside_its_photo_and_of_its_ratio(ratio, width, height):
    boxes = candidates_for(ratio, width, height)
    assert len(boxes) > 0 and boxes.dtype == np.int64
    assert _inside(boxes, width, height)
    assert _of_ratio_to_the_pixel(boxes, *_terms(ratio, width, height))
    near = neighbours(boxes[len(boxes) // 2], ratio, width, height)
    assert near.dtype == np.int64 and _inside(near, width, height)
    assert _of_ratio_to_the_pixel(near, *_terms(ratio, width, height))


@given(sides, sides)
def test_every_free_candidate_is_inside_its_photo(width, height):
    boxes = candidates_for(parse_ratio("any"), width, height)
    assert len(boxes) > 0 and _inside(boxes, width, height)
    near = neighbours(boxes[0], parse_ratio("any"), width, height)
    assert _inside(near, width, height) and not (near == boxes[0]).all(1).any()


drawn = st.tuples(*[st.floats(-500, 3500, allow_nan=False)] * 4)


@given(st.one_of(requested, st.sampled_from([parse_ratio("any")])), sides, sides, drawn)
def test_a_fitted_box_is_inside_of_its_ratio_and_fits_as_it_is(ratio, width, height, box):
    fitted = fit_box(box, ratio, width, height)
    assert all(isinstance(v, int) for v in fitted)
    assert _inside(np.array([fitted]), width, height)
    if ratio.kind != "any":
        rw, rh = _terms(ratio, width, height)
        g = math.gcd(rw, rh)
        rw, rh = rw // g, rh // g
        w, h = fitted[2] - fitted[0], fitted[3] - fitted[1]
        if min(width // rw, height // rh) >= 10:  # room for ten sizes: exactly the ratio
            assert w * rh == h * rw
        else:
            assert _of_ratio_to_the_pixel(np.array([fitted]), rw, rh)
    assert fit_box(fitted, ratio, width, height) == fitted  # idempotent


def test_a_tiny_drawn_box_of_a_wide_ratio_is_fitted_once_and_for_all():
    """Found by the property above: a point drawn on a small photo, fitted to 5:1, gave a 2 x 1
    box (not 5:1 to the pixel), and fitting that gave 3 x 1. Now the narrowest 5:1 box to the
    pixel (3 x 1: 1 is 0.6 rounded), and a box already of the ratio stays as it is."""
    five = parse_ratio("5:1")
    assert fit_box((0, 0, 0, 0), five, 16, 16) == (0, 0, 3, 1)
    assert fit_box((0, 0, 3, 1), five, 16, 16) == (0, 0, 3, 1)
    assert fit_box((2, 4, 6, 5), five, 16, 16) == (2, 4, 6, 5)  # 4 x 1: 0.8 rounds to 1
    # 30 px: 12 x 2 (sqrt(30 * 5) = 12.2) about (3, 2.5): top round(1.5) = 2
    assert fit_box((0, 0, 6, 5), five, 16, 16) == (0, 2, 12, 4)


def test_a_narrow_window_shrinks_to_the_narrowest_of_its_ratio():
    """Found by the property above: on a 477 x 16 panorama a step is 13 pixels, so shrinking a
    27 x 13 window of 17:8 by two steps left 1 pixel: a 1 x 1 box. It stops at 2 x 1 (17:8
    of 2 is 0.94 high, to the pixel 1)."""
    got = neighbours(np.array([225, 1, 252, 14]), parse_ratio("17:8"), 477, 16).tolist()
    assert [238, 7, 240, 8] in got  # about the centre (238.5, 7.5): round(237.5) = 238
    assert all(abs((y2 - y1) - (x2 - x1) * 8 / 17) <= 0.5 for x1, y1, x2, y2 in got)


@pytest.mark.parametrize(
    ("box", "ratio", "size", "fitted"),
    [
        # a box already of the ratio to the pixel stays, up to the photo's full width
        ((0, 0, 16, 3), "5:1", (16, 16), (0, 0, 16, 3)),
        ((0, 0, 2, 1), "4:1", (16, 16), (0, 0, 2, 1)),  # 2 / 4 = 0.5 high: 1 is half a pixel off
        ((0, 0, 1, 2), "1:4", (16, 16), (0, 0, 1, 2)),  # 2 / 4 = 0.5 wide: likewise
        # not of the ratio: sqrt(area * 5 / 2) wide about the centre, round(w * 2 / 5) high
        ((0, 0, 10, 10), "5:2", (20, 20), (0, 2, 16, 8)),  # sqrt(250) = 15.8
        ((0, 0, 1, 10), "5:2", (20, 20), (0, 4, 5, 6)),  # sqrt(25) = 5
        ((0, 0, 6, 3), "5:2", (20, 20), (0, 0, 7, 3)),  # 3 is 0.6 off 2.4, 6 is 1.5 off 7.5
        ((0, 0, 0, 0), "1:4", (16, 16), (0, 0, 1, 4)),  # a point: the narrowest 1:4 box
        # ten sizes of 4:3 fit 40 x 30: exact multiples of 4 x 3 (k = round(sqrt(638 / 12)) = 7)
        ((0, 0, 29, 22), "4:3", (40, 30), (0, 0, 28, 21)),
        ((0, 0, 1, 1), "4:3", (400, 300), (0, 0, 4, 3)),  # never under one step
        ((5, 5, 6, 6), "any", (400, 300), (5, 5, 6, 6)),  # one pixel is a box
    ],
)
def test_drawn_boxes_by_hand(box, ratio, size, fitted):
    assert fit_box(box, parse_ratio(ratio), *size) == fitted


def test_free_neighbours_exactly_on_the_aspect_bounds_are_left_out():
    # 190 x 100 widened by 10 is exactly 2:1; 100 x 193 lowered by 7 exactly 1:2: both out
    got = neighbours(np.array([0, 0, 190, 100]), parse_ratio("any"), 360, 240).tolist()
    assert sorted(got) == [[0, 0, 180, 100], [0, 0, 190, 107], [10, 0, 190, 100]]
    got = neighbours(np.array([0, 0, 100, 193]), parse_ratio("any"), 360, 240).tolist()
    assert sorted(got) == [[0, 0, 100, 186], [0, 0, 110, 193], [0, 7, 100, 193]]
    # 8 high, moved in by 7: one row left, kept
    got = neighbours(np.array([0, 0, 200, 8]), parse_ratio("any"), 360, 240).tolist()
    assert [0, 0, 200, 1] in got and [0, 7, 200, 8] in got and len(got) == 6
