import numpy as np
import pytest

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
