"""The records of a review: analysed or reused from FILE, changed one at a time, saved whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import EXAMPLES, leftovers, read_jsonl

from sacrop_cli.io.inputs import scan_inputs
from sacrop_cli.record import PhotoRecord, new_record
from sacrop_cli.viz.review_records import (
    REVIEW_KEYS,
    ReviewSession,
    analyse,
    aspect,
    load_previous,
    plan,
    review_form,
)


def crop(ratio: str, rank: int, box: list[int], score: float) -> dict:
    return {
        "ratio": ratio,
        "rank": rank,
        "box": box,
        "score": score,
        "note": None,
        "path": None,
        "status": "dry-run",
    }


def manifest_record(source: Path | str) -> PhotoRecord:
    """A ``crop -k 2 --dry-run --manifest`` record of a 400 x 300 photo, two ratios."""
    record = new_record(source, (400, 300))
    record["crops"] = [
        crop("4:3", 1, [0, 0, 400, 300], 0.9),
        crop("4:3", 2, [40, 30, 360, 270], 0.5),
        crop("1:1", 1, [50, 0, 350, 300], 0.8),
        crop("1:1", 2, [100, 50, 300, 250], 0.4),
    ]
    return record


@pytest.fixture
def session(tmp_path: Path) -> ReviewSession:
    records = [review_form(manifest_record(tmp_path / f"p{i}.jpg")) for i in range(2)]
    return ReviewSession(tmp_path / "review.jsonl", records)


def test_a_crop_manifest_record_becomes_proposals_and_one_crop_per_ratio(tmp_path):
    record = manifest_record("a.jpg")
    reviewed = review_form(record)
    assert reviewed["proposals"] == record["crops"]
    assert reviewed["crops"] == [record["crops"][0], record["crops"][2]]
    assert review_form(reviewed) is reviewed  # already reviewed: kept as it is


def test_choosing_rank_2_keeps_the_slot_and_what_sacrop_proposed(session):
    session.save()
    view = session.change({"index": 1, "ratio": "4:3", "action": "rank", "rank": 2})
    saved = read_jsonl(session.path)
    chosen = saved[1]["crops"][0]
    assert {k: chosen[k] for k in ("ratio", "rank", "box", "score", "chosen", "chosen_rank")} == {
        "ratio": "4:3",
        "rank": 1,  # the slot: `apply` names the file as `crop -k 1` does
        "box": [40, 30, 360, 270],
        "score": 0.5,
        "chosen": "rank",
        "chosen_rank": 2,
    }
    assert chosen["proposed"] == {"box": [0, 0, 400, 300], "score": 0.9}
    assert list(chosen)[-4:] == list(REVIEW_KEYS)
    assert saved[1]["crops"][1] == manifest_record("x")["crops"][2]  # 1:1 untouched
    assert saved[0] == json.loads(json.dumps(session.records[0]))  # the other photo too
    assert view["ratios"][0]["crop"] == chosen
    assert leftovers(session.path.parent) == []


def test_a_drawn_box_is_fitted_to_its_ratio_exactly(session):
    session.change({"index": 0, "ratio": "4:3", "action": "box", "box": [10.5, 20, 200.2, 170]})
    chosen = read_jsonl(session.path)[0]["crops"][0]
    # area 189.7 x 150 -> 49 steps of 4 x 3 = 196 x 147 about the centre (105.35, 95)
    assert chosen["box"] == [7, 22, 203, 169]
    assert (chosen["chosen"], chosen["score"], "chosen_rank" in chosen) == ("box", 0.9, False)
    assert chosen["proposed"] == {"box": [0, 0, 400, 300], "score": 0.9}


def test_reset_gives_back_the_proposal_without_review_keys(session):
    session.change({"index": 0, "ratio": "1:1", "action": "rank", "rank": 2})
    session.change({"index": 0, "ratio": "1:1", "action": "reset"})
    assert read_jsonl(session.path)[0]["crops"][1] == manifest_record("x")["crops"][2]


def test_marking_a_photo_done_and_not(session):
    session.change({"index": 1, "action": "done", "done": True})
    assert read_jsonl(session.path)[1]["reviewed"][:2] == "20"  # an ISO time
    session.change({"index": 1, "action": "done", "done": False})
    assert "reviewed" not in read_jsonl(session.path)[1]


@pytest.mark.parametrize(
    "request_, message",
    [
        ({"index": 5, "action": "reset", "ratio": "4:3"}, "no such photo"),
        ({"index": "0", "action": "reset", "ratio": "4:3"}, "no such photo"),
        ({"index": 0, "action": "reset", "ratio": "16:9"}, "no crop of ratio '16:9'"),
        ({"index": 0, "action": "rank", "ratio": "4:3", "rank": 3}, "no rank 3 of ratio 4:3"),
        ({"index": 0, "action": "rank", "ratio": "4:3", "rank": True}, "rank must be a whole"),
        ({"index": 0, "action": "box", "ratio": "4:3", "box": [5, 5, 1, 9]}, "box must be four"),
        ({"index": 0, "action": "box", "ratio": "4:3", "box": "0,0,4,3"}, "box must be four"),
        ({"index": 0, "action": "drop", "ratio": "4:3"}, "action must be rank, box"),
    ],
)
def test_a_bad_change_is_refused_and_nothing_is_written(session, request_, message):
    with pytest.raises(ValueError, match=message):
        session.change(request_)
    assert not session.path.exists()


def test_no_change_is_taken_once_closed(session):
    session.close()
    with pytest.raises(ValueError, match="the review has ended"):
        session.change({"index": 0, "action": "done", "done": True})


def test_the_aspect_the_page_holds():
    assert (aspect("4:3", 400, 300), aspect("original", 450, 300), aspect("any", 4, 3)) == (
        4 / 3,
        1.5,
        None,
    )


def test_file_records_are_reused_for_the_same_ratios_others_kept(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(EXAMPLES / "coffee.jpg", photos / name)
    previous = [
        manifest_record(photos / "a.jpg"),  # same ratios: reused
        {**manifest_record(photos / "b.jpg"), "crops": []},  # other ratios: analysed again
        manifest_record(tmp_path / "elsewhere.jpg"),  # not given: kept
    ]
    found = plan(scan_inputs([photos]), previous, ("4:3", "1:1"))
    assert list(found.reused.values()) == [review_form(previous[0])]
    assert [p.name for p, _ in found.to_analyse.images] == ["b.jpg"]
    assert found.others == [previous[2]]


def test_analysed_records_in_input_order_with_their_proposals(tmp_path, distance_cropper):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(EXAMPLES / "coffee.jpg", photos / "a.jpg")
    shutil.copy(EXAMPLES / "chelsea-cat.jpg", photos / "b.jpg")
    scan = scan_inputs([photos, tmp_path / "gone.jpg"])
    previous = [manifest_record(photos / "a.jpg")]
    found = plan(scan, previous, ("4:3", "1:1"))
    make = lambda: distance_cropper((40, 30, 300, 250), faces=False)  # noqa: E731
    records = analyse(make, found, scan, ("4:3", "1:1"), choices=2)
    assert [(Path(r["source"]).name, r["status"]) for r in records] == [
        ("gone.jpg", "error"),
        ("a.jpg", "ok"),
        ("b.jpg", "ok"),
    ]
    assert records[1] == review_form(previous[0])
    analysed = records[2]
    assert [(p["ratio"], p["rank"]) for p in analysed["proposals"]] == [
        ("4:3", 1),
        ("4:3", 2),
        ("1:1", 1),
        ("1:1", 2),
    ]
    assert analysed["crops"] == [analysed["proposals"][0], analysed["proposals"][2]]


def test_no_file_yet_is_no_records(tmp_path):
    assert load_previous(tmp_path / "review.jsonl") == []
