"""The crop search's three steps (:mod:`sacrop_cli.search`) on a known score landscape: minus
each box's L1 distance to a target box, in photo pixels (no network, no torch)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers import DistanceEngine
from hypothesis import given, settings
from hypothesis import strategies as st

from sacrop_cli import search
from sacrop_cli.candidates import candidates_for
from sacrop_cli.constraints import SUBJECT_STEP, CropRules, inside, note
from sacrop_cli.hints import PixelHints
from sacrop_cli.ratios import parse_ratio

#: examples/coffee.jpg's size, the photo of test_api's distance cases.
W, H = 600, 400
NO_FACES = CropRules(np.zeros((0, 4)), W, H)
#: The box the distance cases of test_api aim at: no grid box reaches it.
TARGET = (58, 50, 525, 361)


def distance(target: tuple[int, int, int, int]) -> search.Score:
    """The search's score callable: minus each box's L1 distance to ``target`` (photo pixels),
    by :class:`helpers.DistanceEngine` at scale 1 (its rois are then photo-pixel boxes)."""
    engine = DistanceEngine(target, 1.0)

    def score(boxes):
        return [engine.scores(None, np.c_[np.zeros(len(b)), b].astype(np.float32)) for b in boxes]

    return score


def ratios(*labels: str):
    return [parse_ratio(label) for label in labels]


def test_build_gives_one_pool_per_ratio_with_the_best_box_first():
    [pools] = search.build(distance(TARGET), [ratios("any", "4:3", "1:1")], [NO_FACES])
    assert [p.ratio.label for p in pools] == ["any", "4:3", "1:1"]
    for pool in pools:  # no faces: every candidate competes, scored by the callable
        assert np.array_equal(pool.boxes, candidates_for(pool.ratio, W, H))
        assert np.array_equal(pool.scores, -np.abs(pool.boxes - TARGET).sum(1))
        assert pool.level == 0.0 and (pool.keys == 0).all()
        assert pool.first == int(np.argmax(pool.scores))
    assert [(tuple(p.boxes[p.first]), float(p.scores[p.first])) for p in pools] == [
        ((75, 50, 525, 350), -28.0),  # 17 + 11 pixels from the target
        ((87, 53, 513, 373), -56.0),
        ((87, 30, 427, 370), -156.0),
    ]
    # the whole photo is scored for the free ratio only
    assert pools[0].whole.tolist() == [[0, 0, W, H]] and pools[0].whole_score.tolist() == [-222]
    assert pools[1].whole is None and pools[2].whole_score is None


def test_refine_climbs_rank_one_to_a_better_score_and_puts_it_first():
    score = distance(TARGET)
    built = search.build(score, [ratios("any", "4:3")], [NO_FACES])
    [[free, four_three]] = search.refine(score, built, 1, [NO_FACES])
    # from the grid's (75, 50, 525, 350): x1 out, then y2 down, onto the target
    assert (free.first, tuple(free.boxes[0]), float(free.scores[0])) == (0, TARGET, 0.0)
    assert (four_three.first, tuple(four_three.boxes[0]), float(four_three.scores[0])) == (
        0,
        (87, 42, 513, 362),
        -50.0,  # from (87, 53, 513, 373) at -56
    )
    for refined, pool in zip((free, four_three), built[0]):
        assert refined.scores[0] > pool.scores[pool.first]
        # the climbed box joins the front; the built pool follows unchanged
        assert np.array_equal(refined.boxes[1:], pool.boxes)
        assert np.array_equal(refined.scores[1:], pool.scores)
        assert refined.level == pool.level == 0.0


def test_pick_gives_k_distinct_crops_rank_one_first():
    score = distance(TARGET)
    [[pool]] = search.refine(score, search.build(score, [ratios("any")], [NO_FACES]), 1, [NO_FACES])
    crops = search.pick(pool, NO_FACES, 3)
    assert [(c.ratio, c.rank, c.box, c.score, c.note) for c in crops] == [
        ("any", 1, TARGET, 0.0, None),
        ("any", 2, (25, 17, 475, 283), -194.0, None),
        ("any", 3, (125, 117, 575, 383), -206.0, None),
    ]
    assert len({c.box for c in crops}) == 3


@pytest.mark.parametrize("above, whole", [(0.05, True), (-0.05, False)])
def test_pick_gives_the_whole_photo_when_it_beats_the_best_by_the_margin(above, whole):
    best = 0.5
    pool = search.Pool(
        parse_ratio("any"),
        boxes=np.array([[100, 100, 300, 250], [0, 0, 300, 200]]),
        scores=np.float32([best, 0.1]),
        keys=np.zeros(2),
        level=0.0,
        first=0,
        whole=np.array([[0, 0, W, H]]),
        whole_score=np.float32([best + search.WHOLE_PHOTO_MARGIN + above]),
    )
    crops = search.pick(pool, NO_FACES, 2)
    assert [c.rank for c in crops] == [1, 2] and all(c.note is None for c in crops)
    if whole:  # the whole photo first, then the best box
        assert [c.box for c in crops] == [(0, 0, W, H), (100, 100, 300, 250)]
        assert crops[0].score == pytest.approx(best + search.WHOLE_PHOTO_MARGIN + above)
    else:  # not by enough: the boxes keep their ranks, the whole photo is not offered
        assert [c.box for c in crops] == [(100, 100, 300, 250), (0, 0, 300, 200)]
        assert crops[0].score == pytest.approx(best)


@pytest.mark.parametrize(
    "face, level, text",
    [
        # 260 pixels wide: no 9:16 window (225 x 400 at most) holds it; some miss it whole
        ((300, 100, 560, 300), 3.0, "no 9:16 window holds the largest face whole"),
        # nearly all of the photo: every 9:16 window cuts it
        (
            (20, 20, 580, 380),
            4.5,
            "every 9:16 window cuts a face; this one keeps the most faces whole",
        ),
    ],
)
def test_a_face_no_window_of_a_ratio_holds_is_said_in_the_note(face, level, text):
    rules = CropRules(np.array([face]), W, H)
    score = distance(TARGET)
    built = search.build(score, [ratios("4:3", "9:16")], [rules])
    [[four_three, tall]] = search.refine(score, built, 2, [rules])
    assert four_three.level < tall.level == level
    assert note(tall.level, tall.ratio) == text
    crops = search.pick(tall, rules, 2)
    assert [c.note for c in crops] == [text, text]
    assert crops[0].box == (93, 42, 273, 362)
    share = inside(np.array([crops[0].box]), np.array([face]))[0, 0]
    assert share == 0.0 if level == 3.0 else 0.0 < share < 1.0  # misses it, or cuts it
    assert {c.note for c in search.pick(four_three, rules, 2)} == {None}


def test_the_whole_photo_takes_rank_one_when_it_alone_keeps_the_face():
    rules = CropRules(np.array([(20, 20, 580, 380)]), W, H)  # its head: beyond every edge
    score = distance(TARGET)
    [[pool]] = search.refine(score, search.build(score, [ratios("any")], [rules]), 2, [rules])
    assert pool.level == 2.0  # every free window keeps the face whole, none the head
    crops = search.pick(pool, rules, 2)
    assert [(c.rank, c.box, c.score, c.note) for c in crops] == [(1, (0, 0, W, H), -222.0, None)]


# -- a person's hints: rules of every step, for every rank and ratio ---------------------------


def hinted(hints: dict, labels: tuple[str, ...], refine: bool, k: int = 3, faces=None):
    """(ratio, rank, box, score, note) of the crops the steps give with ``hints``."""
    from sacrop_cli.hints import Hints

    faces = np.zeros((0, 4)) if faces is None else np.asarray(faces)
    rules = CropRules(faces, W, H, None, Hints.of(**hints).in_pixels(W, H))
    score = distance(TARGET)
    pools = search.build(score, [ratios(*labels)], [rules])
    if refine:
        pools = search.refine(score, pools, k, [rules])
    return [
        (c.ratio, c.rank, c.box, c.score, c.note)
        for p in pools[0]
        for c in search.pick(p, rules, k)
    ]


@pytest.mark.parametrize("refine", [True, False])
@pytest.mark.parametrize("faces", [None, [(500, 100, 560, 170, 0.9)]])
def test_empty_hints_change_no_box(refine, faces):
    from sacrop_cli.hints import PixelHints

    labels = ("any", "4:3", "1:1", "9:16")
    score = distance(TARGET)
    results = []
    for hints in (None, PixelHints()):
        rules = CropRules(np.zeros((0, 4)) if faces is None else np.array(faces), W, H, None, hints)
        pools = search.build(score, [ratios(*labels)], [rules])
        if refine:
            pools = search.refine(score, pools, 3, [rules])
        results.append([c for p in pools[0] for c in search.pick(p, rules, 3)])
    assert results[0] == results[1]
    if refine:  # the boxes of the search before hints existed
        assert [c.box for c in results[0]] == BEFORE_HINTS[faces is None]


BEFORE_HINTS = {
    True: [
        (58, 50, 525, 361),
        (25, 17, 475, 283),
        (125, 117, 575, 383),
        (87, 42, 513, 362),
        (45, 90, 418, 370),
        (50, 0, 450, 300),
        (87, 30, 427, 370),
        (173, 30, 513, 370),
        (47, 80, 367, 400),
        (93, 42, 273, 362),
        (140, 42, 320, 362),
        (187, 42, 367, 362),
    ],
    False: [
        (58, 50, 575, 361),
        (125, 17, 575, 283),
        (69, 0, 575, 380),
        (202, 60, 575, 340),
        (227, 0, 600, 280),
        (175, 0, 575, 400),
        (275, 54, 575, 354),
        (320, 0, 600, 280),
        (395, 42, 575, 362),
        (443, 60, 600, 339),
        (418, 0, 575, 279),
    ],
}


KEEP_RIGHT = {
    True: [
        ("any", 1, (58, 50, 590, 361), -65.0, None),  # the target's x2 moved out to 590
        ("any", 2, (125, 17, 590, 283), -243.0, None),
        ("any", 3, (240, 17, 590, 383), -302.0, None),
        ("4:3", 1, (57, 0, 590, 400), -155.0, None),  # the largest window, just far enough
        ("4:3", 2, (190, 67, 590, 367), -220.0, None),
        ("4:3", 3, (217, 0, 590, 280), -355.0, None),
        ("9:16", 1, (399, 30, 590, 370), -435.0, None),  # no other 9:16 framing holds it
    ],
    False: [
        ("any", 1, (75, 50, 590, 350), -93.0, None),  # the grid's best, grown to hold it
        ("any", 2, (240, 17, 590, 383), -302.0, None),
        ("4:3", 1, (57, 0, 590, 400), -155.0, None),
        ("4:3", 2, (190, 67, 590, 367), -220.0, None),
        ("4:3", 3, (217, 0, 590, 280), -355.0, None),
        ("9:16", 1, (399, 30, 590, 370), -435.0, None),
    ],
}


@pytest.mark.parametrize("refine", [True, False])
def test_every_crop_holds_a_keep_region(refine):
    got = hinted({"keep": "400,100,590,200"}, ("any", "4:3", "9:16"), refine)
    assert got == KEEP_RIGHT[refine]
    for _, _, (x1, y1, x2, y2), _, _ in got:
        assert x1 <= 400 and y1 <= 100 and x2 >= 590 and y2 >= 200


@pytest.mark.parametrize("refine", [True, False])
def test_every_crop_leaves_an_avoid_corner_out(refine):
    # 0, 0, 30%, 30% of 600 x 400: (0, 0, 180, 120)
    got = hinted({"avoid": "0,0,30%,30%"}, ("any", "4:3", "9:16"), refine)
    assert [c[2] for c in got] == (
        [
            (58, 120, 525, 361),  # the target's y1 moved below the corner
            (180, 50, 525, 350),
            (180, 83, 425, 383),
            (180, 60, 553, 340),
            (91, 120, 464, 400),
            (227, 120, 600, 400),
            (180, 42, 360, 362),
            (233, 42, 413, 362),
            (280, 42, 460, 362),
        ]
        if refine
        else [
            (75, 120, 525, 350),
            (180, 50, 525, 383),
            (180, 17, 425, 350),
            (180, 60, 553, 340),
            (91, 120, 464, 400),
            (227, 120, 600, 400),
            (180, 53, 360, 373),
            (233, 53, 413, 373),
            (280, 53, 460, 373),
        ]
    )
    assert all(c[2][0] >= 180 or c[2][1] >= 120 for c in got) and {c[4] for c in got} == {None}


def in_middle(box: tuple[int, ...], x: float, y: float) -> bool:
    """Whether (x, y) lies at least a sixth of the box's side from each of its edges."""
    x1, y1, x2, y2 = box
    w, h = (x2 - x1) / 6, (y2 - y1) / 6
    return x1 + w <= x <= x2 - w and y1 + h <= y <= y2 - h


@pytest.mark.parametrize("refine", [True, False])
def test_every_crop_holds_the_focus_in_its_middle(refine):
    got = hinted({"focus": "50%,50%"}, ("any", "4:3", "9:16"), refine)  # (300, 200)
    assert [c[2] for c in got] == (
        [
            (58, 50, 525, 361),  # the target itself: the point 242 and 150 from its edges
            (25, 17, 475, 283),
            (125, 117, 575, 383),
            (57, 30, 510, 370),
            (182, 60, 555, 340),
            (91, 120, 464, 400),
            (210, 40, 390, 360),  # centred on the point's x
            (150, 42, 330, 362),
            (270, 42, 450, 362),
        ]
        if refine
        else [
            (75, 50, 525, 350),
            (25, 117, 475, 383),
            (25, 17, 475, 283),
            (74, 30, 527, 370),
            (45, 60, 418, 340),
            (182, 60, 555, 340),
            (210, 40, 390, 360),
            (150, 53, 330, 373),
            (270, 53, 450, 373),
        ]
    )
    assert all(in_middle(c[2], 300, 200) for c in got) and {c[4] for c in got} == {None}


@pytest.mark.parametrize("refine", [True, False])
def test_a_focus_near_the_edge_is_held_as_near_the_middle_as_the_photo_allows(refine):
    # (570, 360): a window reaching the right edge has it in its middle only if at most 180
    # wide, and at the bottom only if at most 240 high: no window of these ratios is so small
    got = hinted({"focus": "95%,90%"}, ("any", "4:3", "9:16"), refine)
    assert [(c[0], c[1], c[2]) for c in got] == [
        ("any", 1, (83, 45, 600, 400) if refine else (100, 34, 600, 400)),
        ("4:3", 1, (94, 20, 600, 400)),
        ("4:3", 2, (227, 90, 600, 370)),
        *(
            [("9:16", 1, (381, 41, 583, 400)), ("9:16", 2, (430, 101, 598, 400))]
            if refine
            else [("9:16", 1, (398, 41, 600, 400))]
        ),
    ]
    assert all(c[2][0] <= 570 <= c[2][2] and c[2][1] <= 360 <= c[2][3] for c in got)
    assert {c[4] for c in got} == {
        f"no {ratio} window holds the focus point 570,360 in its middle"
        for ratio in ("any", "4:3", "9:16")
    }


def test_a_keep_region_no_window_holds_is_said_in_the_note_and_missed_least():
    got = hinted({"keep": "0,0,600,100"}, ("any", "4:3"), refine=True)
    assert got == [
        ("any", 1, (0, 0, 600, 361), -183.0, None),  # a free box can hold it
        # the widest 4:3 window: 533 of the 600 pixels
        (
            "4:3",
            1,
            (0, 0, 533, 400),
            -155.0,
            "no 4:3 window holds the keep region 0,0,600,100 whole",
        ),
    ]


def test_hints_outrank_the_faces_and_the_faces_order_the_rest():
    face = (500, 100, 560, 170, 0.9)  # its head: (485, 65, 575, 180.5)
    # keeping the left edge: no 1:1 window (400 px) holds both it and the face's head
    got = hinted({"keep": "0,150,50,200"}, ("1:1",), refine=True, k=1, faces=[face])
    assert got == [
        ("1:1", 1, (0, 0, 380, 380), -272.0, "no 1:1 window holds the largest face whole")
    ]
    # a keep region the face's head fits beside: the face rules still hold
    got = hinted({"keep": "200,150,250,200"}, ("1:1",), refine=True, k=1, faces=[face])
    [(_, _, (x1, y1, x2, y2), _, note)] = got
    assert (x1, y1, x2, y2, note) == (175, 0, 575, 400, None)  # the head's right edge at 575


# -- the steps' thresholds, on stand-in rules whose keys are set by hand --------------------------


class KeyedRules:
    """Stand-in rules of a ``W x H`` photo: a box's key is ``key(box)``; no face or hint moves
    boxes; ``hint`` is what the hint note says."""

    def __init__(self, key=lambda box: 0.0, hint: str | None = None) -> None:
        self.size, self.key, self.hint = (W, H), key, hint

    def levels(self, boxes: np.ndarray) -> np.ndarray:
        return np.array([self.key(tuple(int(v) for v in b)) for b in boxes], np.float64)

    def anchored(self, boxes: np.ndarray) -> np.ndarray:
        return np.zeros((0, 4), np.int64)

    def hint_moves(self, boxes: np.ndarray, free: bool) -> np.ndarray:
        return np.zeros((0, 4), np.int64)

    def hint_note(self, box: np.ndarray, ratio) -> str | None:
        return self.hint


def test_ranked_demotes_every_key_above_the_level_by_a_million():
    pool = search.Pool(
        parse_ratio("4:3"),
        boxes=np.zeros((5, 4), np.int64),
        scores=np.array([1.0, 2.0, 3.0, 4.0, 0.5]),
        keys=np.array([0.0, 1e-9, 1e-3, 1.0, 0.0]),  # the level, within 1e-9, then above it
        level=0.0,
        first=0,
    )
    assert pool.ranked().tolist() == [1.0, 2.0, 3.0 - 1e6, 4.0 - 1e6, 0.5]


def test_best_is_the_top_score_of_the_best_key():
    scores, keys = np.array([5.0, 1.0, 3.0]), np.array([1.0, 0.0, 1e-9])
    assert search._best(scores, keys, 0.0) == 2
    assert search._best(scores, keys, 1.0) == 0


def test_build_scores_the_whole_photo_only_for_the_free_ratio():
    seen = []

    def score(boxes):
        seen.append([len(b) for b in boxes])
        return distance(TARGET)(boxes)

    search.build(score, [ratios("4:3")], [NO_FACES])
    assert seen == [[len(candidates_for(parse_ratio("4:3"), W, H))]]


def test_build_keeps_the_keys_within_one_and_a_half_subject_steps():
    # keys 0, 1.5 steps and just over: the first two compete, the last does not
    over = 1.5 * SUBJECT_STEP + 1e-6
    by_x1 = {0: 0.0, 50: 1.5 * SUBJECT_STEP}
    rules = KeyedRules(lambda box: by_x1.get(box[0], over))
    [[pool]] = search.build(distance(TARGET), [ratios("4:3")], [rules])
    assert sorted(set(pool.keys.tolist())) == [0.0, 1.5 * SUBJECT_STEP]
    assert sorted(set(pool.boxes[:, 0].tolist())) == [0, 50]


def test_refine_steps_rank_one_only_within_its_key_and_the_others_within_the_level():
    """Rank 1 may not step to a box of a worse key, the alternatives may within the face level
    (1.5 subject steps), and no one to a box a whole level worse."""
    start = [(0, 0, 400, 300), (200, 100, 600, 400)]
    pool = search.Pool(
        parse_ratio("4:3"),
        boxes=np.array(start),
        scores=np.float32([-1000.0, -2000.0]),
        keys=np.zeros(2),
        level=0.0,
        first=0,
    )
    # every box but the two starts is one subject step worse; boxes right of x1 = 210, a level
    rules = KeyedRules(lambda b: 0.0 if b in start else 1.0 if b[0] > 210 else SUBJECT_STEP)
    score = distance((100, 50, 500, 350))  # both climb toward it when they may
    [[refined]] = search.refine(score, [[pool]], 2, [rules])
    climbed = [tuple(b) for b in refined.boxes[:2].tolist()]
    assert climbed[0] == start[0]  # every neighbour of a worse key: rank 1 stays
    # three steps toward the target (L1 distance 300 -> 149), onto boxes a subject step worse
    assert climbed[1] == (115, 49, 583, 400)
    assert refined.scores[:2].tolist() == [-1000.0, -149.0]
    assert refined.keys[:2].tolist() == [0.0, SUBJECT_STEP]


def test_refine_goes_on_for_one_photo_after_another_has_stopped():
    # photo 0 starts on its target (no neighbour scores higher), photo 1 climbs three steps
    far, near = (87, 53, 513, 373), (87, 42, 513, 362)
    pools = []
    for box in (near, far):
        pools.append(
            [search.Pool(parse_ratio("4:3"), np.array([box]), np.float32([-1e3]), np.zeros(1),
                         0.0, 0)]
        )  # fmt: skip
    engine = DistanceEngine(near, 1.0)

    def score(boxes):
        return [engine.scores(None, np.c_[np.zeros(len(b)), b].astype(np.float32)) for b in boxes]

    refined = search.refine(score, pools, 1, [NO_FACES, NO_FACES])
    assert [tuple(p[0].boxes[0].tolist()) for p in refined] == [near, near]


def _free_pool(level: float, first: int = 0) -> search.Pool:
    return search.Pool(
        parse_ratio("any"),
        boxes=np.array([[100, 100, 300, 250], [0, 0, 300, 200]]),
        scores=np.array([0.5, 0.1]),
        keys=np.full(2, level),
        level=level,
        first=first,
        whole=np.array([[0, 0, W, H]]),
        whole_score=np.array([0.5 + search.WHOLE_PHOTO_MARGIN]),
    )


def test_the_whole_photo_needs_more_than_the_margin_and_no_worse_key():
    crops = search.pick(_free_pool(0.0), KeyedRules(), 1)  # exactly the margin: not enough
    assert [c.box for c in crops] == [(100, 100, 300, 250)]
    pool = replace(_free_pool(0.0), whole_score=np.array([0.9]))
    crops = search.pick(pool, KeyedRules(lambda box: 1.0), 1)  # a level worse: not offered
    assert [c.box for c in crops] == [(100, 100, 300, 250)]
    assert [c.box for c in search.pick(pool, KeyedRules(), 1)] == [(0, 0, W, H)]
    # no score for the whole photo: it is not weighed
    assert [c.box for c in search.pick(replace(pool, whole_score=None), KeyedRules(), 1)] == [
        (100, 100, 300, 250)
    ]


def test_the_whole_photo_alone_meeting_the_rules_takes_its_level_and_note():
    # every box of the pool at face level 3 (no window holds the face): the whole photo, at 0,
    # is rank 1 (whatever the pool's first was) and the note goes with the level it meets
    crops = search.pick(_free_pool(3.0, first=1), KeyedRules(), 2)
    assert [(c.rank, c.box, c.note) for c in crops] == [(1, (0, 0, W, H), None)]


def test_the_note_joins_the_face_rule_and_the_hint():
    crops = search.pick(_free_pool(3.0), KeyedRules(lambda box: 3.0, hint="no any window holds"), 1)
    assert crops[0].note == "no any window holds the largest face whole; no any window holds"


# -- properties (hypothesis) --------------------------------------------------------------------


def _region(size: tuple[int, int]):
    """A region of a ``W x H`` photo, at least 2 pixels a side."""
    return st.tuples(st.integers(0, size[0] - 2), st.integers(0, size[1] - 2)).flatmap(
        lambda corner: st.tuples(
            st.just(corner[0]),
            st.just(corner[1]),
            st.integers(corner[0] + 2, size[0]),
            st.integers(corner[1] + 2, size[1]),
        )
    )


searched = st.sampled_from([("4:3",), ("1:1",), ("9:16",), ("any",), ("16:9",)])


@settings(max_examples=25)
@given(_region((W, H)), searched, st.booleans())
def test_rank_one_holds_a_keep_region_whenever_a_window_of_its_ratio_can(region, labels, refine):
    x1, y1, x2, y2 = region
    rules = CropRules(np.zeros((0, 4)), W, H, None, PixelHints(keep=(region,)))
    score = distance(TARGET)
    pools = search.build(score, [ratios(*labels)], [rules])
    if refine:
        pools = search.refine(score, pools, 2, [rules])
    [pool] = pools[0]
    [crop, *_] = search.pick(pool, rules, 2)
    windows = candidates_for(pool.ratio, W, H)
    can = ((windows[:, :2] <= (x1, y1)).all(1) & (windows[:, 2:] >= (x2, y2)).all(1)).any()
    holds = crop.box[0] <= x1 and crop.box[1] <= y1 and crop.box[2] >= x2 and crop.box[3] >= y2
    if can:
        assert holds and crop.note is None
    if not holds:
        assert crop.note is not None and "keep region" in crop.note


@settings(max_examples=25)
@given(_region((W, H)), searched, st.booleans())
def test_rank_one_misses_an_avoid_region_whenever_a_window_of_its_ratio_can(region, labels, refine):
    x1, y1, x2, y2 = region
    rules = CropRules(np.zeros((0, 4)), W, H, None, PixelHints(avoid=(region,)))
    score = distance(TARGET)
    pools = search.build(score, [ratios(*labels)], [rules])
    if refine:
        pools = search.refine(score, pools, 2, [rules])
    [pool] = pools[0]
    [crop, *_] = search.pick(pool, rules, 2)

    def misses(b) -> np.ndarray:
        b = np.asarray(b).reshape(-1, 4)
        return (b[:, 2] <= x1) | (b[:, 0] >= x2) | (b[:, 3] <= y1) | (b[:, 1] >= y2)

    if misses(candidates_for(pool.ratio, W, H)).any():
        assert misses(crop.box)[0] and crop.note is None
    x1c, y1c, x2c, y2c = crop.box
    assert 0 <= x1c < x2c <= W and 0 <= y1c < y2c <= H


def test_the_whole_photo_a_subject_step_better_only_competes_on_its_score():
    # one subject step better than the pool is not "alone meeting the rules": it must win
    crops = search.pick(
        replace(_free_pool(SUBJECT_STEP), whole_score=np.array([0.0])), KeyedRules(), 1
    )
    assert [c.box for c in crops] == [(100, 100, 300, 250)]
