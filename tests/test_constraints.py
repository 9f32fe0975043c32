"""The face rules: heads, shares inside a crop, levels and moved windows, worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from sacrop_cli.ratios import parse_ratio


def test_a_head_widens_the_face_and_stays_in_the_photo():
    from sacrop_cli.constraints import heads

    # 40 x 40 face: 10 px each side, 20 above, 6 below; the second is clipped at the top-left
    got = heads(np.array([[100, 100, 140, 140], [5, 5, 45, 45]]), 300, 200)
    np.testing.assert_allclose(got, [[90, 80, 150, 146], [0, 0, 55, 51]])


def test_inside_is_the_share_of_each_region_in_each_box():
    from sacrop_cli.constraints import inside

    regions = np.array([[0, 0, 10, 10], [20, 0, 30, 10]])
    boxes = np.array([[0, 0, 5, 10], [0, 0, 100, 100], [40, 40, 50, 50]])
    np.testing.assert_allclose(inside(boxes, regions), [[0.5, 0.0], [1.0, 1.0], [0.0, 0.0]])


@pytest.fixture
def rules():
    from sacrop_cli.constraints import CropRules

    # a 400 x 300 photo: a large face at the left, one of half its width (a quarter of its
    # area: still of the group) at the right, and a small one (outside the group)
    faces = np.array(
        [[60, 100, 100, 140, 0.9], [300, 100, 320, 120, 0.8], [200, 250, 210, 260, 0.7]]
    )
    return CropRules(faces, 400, 300)


def test_levels_rank_boxes_by_the_rules_they_meet(rules):
    # heads: (50, 80, 110, 146), (295, 90, 325, 123), (197.5, 245, 212.5, 261.5)
    boxes = np.array(
        [
            [40, 60, 340, 200],  # 0: both group heads whole, nothing cut
            [40, 60, 200, 200],  # 1: the largest head, the small head left out
            [55, 95, 110, 200],  # 2: the largest face whole, its head cut
            [120, 0, 280, 300],  # 3: no face cut, the largest face out
            [80, 0, 310, 200],  # 4: cuts the largest and the second; the small one out
            [80, 0, 400, 300],  # 4: cuts the largest; second and small whole
        ]
    )
    # level 4 + 1 - (faces whole + 1) / (faces + 1): more faces whole is better
    assert rules.levels(boxes) == pytest.approx([0, 1, 2, 3, 4 + 1 - 1 / 4, 4 + 1 - 3 / 4])


def test_a_row_of_hair_is_not_a_cut(rules):
    from sacrop_cli.constraints import TOLERANCE

    # the largest head is 60 x 66: a crop starting 1 px into it leaves 1/60 outside
    assert 1 / 60 < TOLERANCE
    assert rules.levels(np.array([[51, 60, 340, 200]])) == pytest.approx([0])


def test_no_faces_no_rules():
    from sacrop_cli.constraints import CropRules

    empty = CropRules(np.zeros((0, 5)), 400, 300)
    assert not empty
    assert empty.levels(np.array([[0, 0, 10, 10]])) == pytest.approx([0])
    assert empty.anchored(np.array([[0, 0, 10, 10]])).shape == (0, 4)


def test_anchored_moves_windows_just_enough_to_hold_the_faces(rules):
    boxes = np.array(
        [
            [0, 0, 300, 200],  # holds the group's heads (50..325 wide) once moved right by 25
            [200, 150, 300, 250],  # 100 x 100: to the largest head's top-left (50, 80)
            [0, 0, 50, 50],  # holds the largest face (60..100, 100..140), not its head
            [0, 0, 30, 30],  # too small for any: dropped
        ]
    )
    assert rules.anchored(boxes).tolist() == [  # sorted, duplicates dropped
        [25, 0, 325, 200],
        [50, 80, 150, 180],
        [50, 90, 100, 140],
    ]


def test_notes_name_the_ratio():
    from sacrop_cli.constraints import note
    from sacrop_cli.ratios import parse_ratio

    assert note(0, parse_ratio("16:9")) is None and note(2, parse_ratio("16:9")) is None
    assert note(3, parse_ratio("16:9")) == "no 16:9 window holds the largest face whole"
    assert note(4.5, parse_ratio("any")).startswith("every any window cuts a face")


def test_the_subject_is_the_peak_and_the_cells_connected_to_it():
    from sacrop_cli.constraints import subject_box

    amap = np.zeros((4, 4))
    amap[1, 1], amap[1, 2], amap[2, 2] = 1.0, 0.9, 0.86  # connected, all >= 0.85 of the peak
    amap[3, 0] = 0.95  # as strong, but apart from the peak's cells
    amap[0, 3] = 0.8  # next to them, but too weak
    # cells of 100 x 50 in a 400 x 200 photo: columns 1..2, rows 1..2
    np.testing.assert_allclose(subject_box(amap, 400, 200), [100, 50, 300, 150])


def test_boxes_that_keep_the_subject_come_first_within_a_face_level():
    from sacrop_cli.constraints import SUBJECT_STEP, CropRules

    subject = np.array([100.0, 50.0, 300.0, 150.0])
    alone = CropRules(np.zeros((0, 5)), 400, 200, subject)
    assert alone
    boxes = np.array([[90, 40, 310, 160], [150, 0, 400, 200]])
    assert alone.levels(boxes) == pytest.approx([0, SUBJECT_STEP])
    assert alone.anchored(boxes).shape == (0, 4)  # windows are moved for faces only
    with_face = CropRules(np.array([[20, 20, 60, 60, 0.9]]), 400, 200, subject)
    # a face level outweighs the subject: keeping the face but not the subject beats the reverse
    levels = with_face.levels(np.array([[0, 0, 90, 100], [90, 40, 310, 160]]))
    assert levels[0] == pytest.approx(SUBJECT_STEP) and levels[1] >= 3


def test_a_larger_uncertain_detection_does_not_outrank_a_smaller_clear_face():
    from sacrop_cli.constraints import CropRules

    # largest first, as the detector gives them: a 120 x 150 detection at 0.6, a clear 60 x 70
    # face at 0.9 (under a quarter of the other's area: by area alone, not of its group)
    faces = np.array([[300, 50, 420, 200, 0.6], [100, 150, 160, 220, 0.9]])
    rules = CropRules(faces, 600, 400)
    np.testing.assert_array_equal(rules.faces, [[100, 150, 160, 220], [300, 50, 420, 200]])
    assert rules.group.tolist() == [True, False] and rules.outranked.tolist() == [False, True]
    # holding the clear face's head and leaving the other detection out is level 0
    assert rules.levels(np.array([[50, 100, 250, 300], [250, 0, 450, 250]])) == pytest.approx(
        [0, 3]
    )
    # windows are moved to hold both heads when they can, else the clear face's head
    moved = rules.anchored(np.array([[200, 0, 600, 400], [0, 100, 200, 300]]))
    assert moved.tolist() == [[0, 100, 200, 300], [85, 0, 485, 400]]


def test_without_scores_or_when_all_are_clear_the_largest_face_leads():
    from sacrop_cli.constraints import CropRules

    faces = np.array([[300, 50, 420, 200], [100, 150, 160, 220]])
    for given in (faces, np.c_[faces, [0.9, 0.85]], np.c_[faces, [0.6, 0.55]]):
        rules = CropRules(given, 600, 400)
        np.testing.assert_array_equal(rules.faces, faces)
        assert rules.group.tolist() == [True, False]


def test_hint_keys_count_what_a_box_misses():
    from sacrop_cli.constraints import HINT_GRAIN, HINT_STEP, CropRules
    from sacrop_cli.hints import PixelHints

    hints = PixelHints(keep=((100, 100, 200, 200),), avoid=((500, 0, 600, 100),), focus=(250, 300))
    rules = CropRules(np.zeros((0, 4)), 600, 400, hints=hints)
    boxes = np.array(
        [
            [50, 50, 450, 350],  # meets all three
            [50, 50, 550, 350],  # overlaps the avoid region (a quarter of it inside)
            [150, 50, 450, 350],  # half the keep region out
            [0, 0, 600, 250],  # the focus below, the avoid region inside whole
        ]
    )
    # the focus is to lie a sixth of the box's side from its edges: the first three hold it
    # there (the first at y = 350 - 300 / 6 exactly); the last's middle ends at
    # y = 250 - 250 / 6, 300 - 625 / 3 above the point
    # misses: (keep or focus missed) * (avoid regions + 1) + avoid regions overlapped; then
    # the mean shortfall of the three hints, in twentieths
    expected = [
        0,
        1 * HINT_GRAIN + int(0.25 / 3 * HINT_GRAIN),
        2 * HINT_GRAIN + int(0.5 / 3 * HINT_GRAIN),
        # the focus missed twice (outside the box, so off its middle too)
        (2 * 2 + 1) * HINT_GRAIN + int((1 + (300 - 625 / 3) / 600) / 3 * HINT_GRAIN),
    ]
    assert rules.hint_keys(boxes).tolist() == expected
    assert rules.levels(boxes).tolist() == [HINT_STEP * e for e in expected]
    assert rules.hint_note(boxes[3], parse_ratio("4:3")) == (
        "no 4:3 window holds the focus point 250,300 in its middle; "
        "no 4:3 window leaves the avoid region 500,0,600,100 out"
    )
    assert rules.hint_note(boxes[0], parse_ratio("4:3")) is None


def test_hint_moves_place_windows_to_meet_the_hints():
    from sacrop_cli.constraints import CropRules
    from sacrop_cli.hints import PixelHints

    box = np.array([[0, 0, 300, 200]])
    keep = CropRules(np.zeros((0, 4)), 600, 400, hints=PixelHints(keep=((350, 250, 400, 300),)))
    # moved just enough (x2 to 400, y2 to 300); for a free ratio also grown to hold it
    assert keep.hint_moves(box, free=False).tolist() == [[100, 100, 400, 300]]
    assert keep.hint_moves(box, free=True).tolist() == [[0, 0, 400, 300], [100, 100, 400, 300]]
    avoid = CropRules(np.zeros((0, 4)), 600, 400, hints=PixelHints(avoid=((0, 0, 100, 50),)))
    # clear of it to its right or below (left and above leave the photo); or cut at its edges
    assert avoid.hint_moves(box, free=False).tolist() == [[0, 50, 300, 250], [100, 0, 400, 200]]
    # (cut below it, 300 x 150 is beyond the free ratio's 2:1 bound)
    assert avoid.hint_moves(box, free=True).tolist() == [
        [0, 50, 300, 250],
        [100, 0, 300, 200],
        [100, 0, 400, 200],
    ]
    focus = CropRules(np.zeros((0, 4)), 600, 400, hints=PixelHints(focus=(500.0, 100.0)))
    # moved to hold it a sixth of the box's side from its edges (x 450 to 550, y 66 to 134:
    # x2 = 550), and centred on it as far as the photo allows
    assert focus.hint_moves(box, free=False).tolist() == [[250, 0, 550, 200], [300, 0, 600, 200]]
    assert CropRules(np.zeros((0, 4)), 600, 400).hint_moves(box, free=True).shape == (0, 4)
