"""What a review file teaches: its exact pairs and choices, and the bad inputs of one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sacrop_cli.io.download import sha256_file
from sacrop_cli.record import new_record
from sacrop_cli.train.reviews import (
    Choice,
    NothingToLearn,
    Pair,
    ReviewedPhoto,
    around,
    hold_back,
    photo_problem,
    read_reviews,
    record_lessons,
)

R1, R2, R3 = [0, 0, 400, 300], [100, 0, 500, 300], [0, 100, 300, 325]
# around R2 in 600 x 400, by hand: 340 x 255, 368 x 276, 432 x 324, 460 x 345 about (300, 150)
# (the larger two moved down inside), 32 px left and right, 24 px down (up: R2 itself, left out)
AROUND_R2 = [
    (130, 22, 470, 277),
    (116, 12, 484, 288),
    (84, 0, 516, 324),
    (70, 0, 530, 345),
    (68, 0, 468, 300),
    (132, 0, 532, 300),
    (100, 24, 500, 324),
]


def proposal(rank: int, box: list[int], ratio: str = "4:3") -> dict:
    return {
        "ratio": ratio,
        "rank": rank,
        "box": box,
        "score": 1 - rank / 10,
        "note": None,
        "path": None,
        "status": "dry-run",
    }


def reviewed(name: str, crop: dict, done: bool = False, size=(600, 400)) -> dict:
    record = new_record(name, size)
    record["proposals"] = [proposal(1, R1), proposal(2, R2), proposal(3, R3)]
    record["crops"] = [crop]
    if done:
        record["reviewed"] = "2026-12-06T10:00:00+00:00"
    return record


def picked(rank: int, box: list[int]) -> dict:
    return {
        **proposal(1, box),
        "proposed": {"box": R1, "score": 0.9},
        "chosen": "rank",
        "chosen_rank": rank,
        "chosen_at": "2026-12-06T10:00:00+00:00",
    }


def drawn(box: list[int]) -> dict:
    return {**proposal(1, box), "proposed": {"box": R1, "score": 0.9}, "chosen": "box"}


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_rank_picked_beats_rank_1_and_the_other_rank_offered() -> None:
    pairs, choices, outside = record_lessons(reviewed("a.jpg", picked(2, R2)))
    assert pairs == [
        Pair("4:3", tuple(R2), tuple(R1)),
        Pair("4:3", tuple(R2), tuple(R3)),
        *[Pair("4:3", tuple(R2), b, around=True) for b in AROUND_R2],
    ]
    assert choices == [Choice("4:3", tuple(R2), True)]
    assert outside == []


def test_around_a_box_same_shape_inside_the_photo() -> None:
    assert around(tuple(R2), (600, 400)) == AROUND_R2
    # the whole photo: only the smaller two (510 x 340, 552 x 368 about its centre)
    assert around((0, 0, 600, 400), (600, 400)) == [(45, 30, 555, 370), (24, 16, 576, 384)]


def test_drawn_box_beats_every_rank_offered() -> None:
    box = [200, 50, 520, 290]
    pairs, choices, _ = record_lessons(reviewed("a.jpg", drawn(box)))
    near = [(224, 68, 496, 272), (213, 60, 507, 281), (187, 40, 533, 299), (176, 32, 544, 308)]
    near += [(174, 50, 494, 290), (226, 50, 546, 290), (200, 31, 520, 271), (200, 69, 520, 309)]
    assert pairs == [Pair("4:3", tuple(box), tuple(b)) for b in (R1, R2, R3)] + [
        Pair("4:3", tuple(box), b, around=True) for b in near
    ]
    assert choices == [Choice("4:3", tuple(box), True)]


def test_done_with_rank_1_kept_confirms_it() -> None:
    pairs, choices, _ = record_lessons(reviewed("a.jpg", proposal(1, R1), done=True))
    assert pairs == [Pair("4:3", tuple(R1), tuple(R2)), Pair("4:3", tuple(R1), tuple(R3))]
    assert choices == [Choice("4:3", tuple(R1), False)]


def test_neither_done_nor_changed_teaches_nothing() -> None:
    assert record_lessons(reviewed("a.jpg", proposal(1, R1))) == ([], [], [])


def test_a_box_nearly_the_chosen_one_makes_no_pair() -> None:
    near = [2, 0, 402, 300]  # IoU 0.99 with R1
    pairs, _, _ = record_lessons(reviewed("a.jpg", drawn(near)))
    assert pairs[:2] == [Pair("4:3", tuple(near), tuple(b)) for b in (R2, R3)]
    rest = around(tuple(near), (600, 400))
    assert pairs[2:] == [Pair("4:3", tuple(near), b, around=True) for b in rest]


def test_a_box_outside_its_photo_is_left_out_with_one_line() -> None:
    record = reviewed("a.jpg", picked(2, R2))
    record["proposals"][2]["box"] = [0, 100, 300, 450]  # past the bottom (400)
    pairs, _, outside = record_lessons(record, "f.jsonl: line 1: ")
    assert pairs == [Pair("4:3", tuple(R2), tuple(R1))] + [
        Pair("4:3", tuple(R2), b, around=True) for b in AROUND_R2
    ]
    assert outside == ["f.jsonl: line 1: box [0, 100, 300, 450] outside its 600x400 photo: ignored"]


def test_read_reviews_counts_and_hashes(tmp_path: Path) -> None:
    file = write(
        tmp_path / "review.jsonl",
        [
            reviewed("a.jpg", picked(3, R3)),
            reviewed("b.jpg", proposal(1, R1), done=True),
            reviewed("c.jpg", proposal(1, R1)),  # not reviewed
            {**new_record("d.jpg"), "status": "error", "error": "d.jpg: no such file"},
        ],
    )
    got = read_reviews([file])
    assert [p.source for p in got.photos] == [Path("a.jpg"), Path("b.jpg")]
    assert got.counts() == {"photos": 2, "changed": 1, "confirmed": 1, "pairs": 11}
    assert got.files == [{"path": str(file), "sha256": sha256_file(file)}]
    assert len(sha256_file(file)) == 64


def test_source_relative_to_the_file_is_found_beside_it(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"x")
    file = write(tmp_path / "review.jsonl", [reviewed("a.jpg", picked(2, R2))])
    assert read_reviews([file]).photos[0].source == tmp_path / "a.jpg"


def test_nothing_to_learn_is_one_line(tmp_path: Path) -> None:
    file = write(tmp_path / "review.jsonl", [reviewed("c.jpg", proposal(1, R1))])
    with pytest.raises(NothingToLearn) as err:
        read_reviews([file])
    assert str(err.value) == f"{file}: nothing to learn: no photo marked done or changed"


def test_photo_problem() -> None:
    photo = ReviewedPhoto(Path("a.jpg"), (600, 400), [], [])
    assert photo_problem(photo, (600, 400)) is None
    assert photo_problem(photo, None) == "missing"
    assert photo_problem(photo, (400, 600)) == "size changed"


def test_hold_back_keeps_a_fifth_apart_and_none_of_few() -> None:
    photos = [ReviewedPhoto(Path(f"{i}.jpg"), (6, 4), [], []) for i in range(10)]
    learn, check = hold_back(photos, 0.2, seed=0)
    assert len(learn) == 8 and len(check) == 2
    assert sorted(p.source.name for p in learn + check) == sorted(p.source.name for p in photos)
    assert hold_back(photos[:4], 0.2) == (photos[:4], [])
