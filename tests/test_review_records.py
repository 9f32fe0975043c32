"""The records of a review: analysed or reused from FILE, changed one at a time, saved whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import EXAMPLES, leftovers, read_jsonl, run

from sacrop_cli.errors import OutputError
from sacrop_cli.io.inputs import scan_inputs
from sacrop_cli.record import PhotoRecord, new_record
from sacrop_cli.viz.review_records import (
    REVIEW_KEYS,
    BoxScorer,
    ReviewSession,
    analyse,
    aspect,
    check_file,
    plan,
    read_review_file,
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


def test_a_moved_box_keeps_its_size_exactly_and_gets_the_networks_score(session):
    scored = []

    def rescore(source: str, box) -> float:
        scored.append((source, tuple(box)))
        return -0.25

    session.rescore = rescore
    session.change({"index": 1, "ratio": "1:1", "action": "rank", "rank": 2})  # 200 x 200
    # the rank 2 box (100, 50, 300, 250) moved by (10.4, -60.6): inside the photo, same size
    moved = [110.4, -10.6, 310.4, 189.4]
    session.change({"index": 1, "ratio": "1:1", "action": "box", "box": moved})
    chosen = read_jsonl(session.path)[1]["crops"][1]
    assert chosen["box"] == [110, 0, 310, 200]
    assert (chosen["chosen"], chosen["score"]) == ("box", -0.25)
    assert scored == [(session.records[1]["source"], (110, 0, 310, 200))]  # the rank: no score
    # resized: fitted to the ratio, and scored
    session.change({"index": 1, "ratio": "1:1", "action": "box", "box": [0, 0, 150.6, 140]})
    assert read_jsonl(session.path)[1]["crops"][1]["box"] == [3, 0, 148, 145]
    assert scored[-1][1] == (3, 0, 148, 145)


def test_the_page_counts_the_photos_done(session):
    assert session.page(0, 20)["done"] == 0
    session.change({"index": 1, "action": "done", "done": True})
    assert (session.page(0, 20)["done"], session.page(0, 1)["done"]) == (1, 1)


def test_a_box_scorer_scores_as_sacrop_score_does(distance_cropper):
    made = []

    def cropper():
        made.append(1)
        return distance_cropper((0, 0, 600, 400), scale=0.64)

    scorer = BoxScorer(cropper)
    photo = str(EXAMPLES / "coffee.jpg")  # 600 x 400: analysed at 384 x 256, 0.64 exactly
    # minus the L1 distance to the target, in photo pixels
    assert scorer(photo, (100, 50, 500, 350)) == pytest.approx(-(100 + 50 + 100 + 50), abs=1e-3)
    assert scorer(photo, (0, 0, 600, 400)) == pytest.approx(0, abs=1e-3)
    assert made == [1]  # one Cropper, one load of the photo


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
    assert analysed["folder"] == "."  # where crop would put them: apply of FILE does the same


def test_the_proposals_follow_the_hints(tmp_path, distance_cropper):
    from sacrop_cli.hints import Hints

    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(EXAMPLES / "coffee.jpg", photos / "a.jpg")  # 600 x 400
    shutil.copy(EXAMPLES / "chelsea-cat.jpg", photos / "b.jpg")  # 451 x 300
    scan = scan_inputs([photos])
    make = lambda: distance_cropper((40, 30, 300, 250), faces=False)  # noqa: E731
    every = Hints.of(keep="80%,75%,90%,85%")  # far from the target: every crop must hold it
    own = {str(photos / "b.jpg"): Hints.of(avoid="0,0,100,300")}  # b's left 100 pixels out
    records = analyse(make, plan(scan, [], ("4:3",)), scan, ("4:3",), 2, hints=(every, own))
    a, b = (r["proposals"] for r in records)
    assert all(p["box"][2] >= 540 and p["box"][3] >= 340 for p in a)
    assert all(p["box"][0] >= 100 and p["box"][2] >= 406 and p["box"][3] >= 255 for p in b)
    assert {p["note"] for p in a + b} == {None}


def test_no_file_yet_is_no_records(tmp_path):
    assert read_review_file(tmp_path / "review.jsonl") == ([], [])


def test_damaged_lines_of_file_are_one_warning_each(tmp_path):
    """Issue 32, item 14: a missing ratio or status, a NUL byte, a byte that is not UTF-8, a
    number out of range: each one warning naming the line, the other records read."""
    good = manifest_record(tmp_path / "a.jpg")
    no_ratio = manifest_record(tmp_path / "b.jpg")
    del no_ratio["crops"][0]["ratio"]
    no_status = manifest_record(tmp_path / "c.jpg")
    del no_status["status"]
    no_size = {**manifest_record(tmp_path / "d.jpg"), "width": None}
    second = {**manifest_record(tmp_path / "x" / ".." / "a.jpg"), "reviewed": "later"}
    lines = [json.dumps(r).encode() for r in (good, no_ratio, no_status, no_size, second)]
    lines[3:3] = [b'{"source": "e\x00.jpg"}', b'{"source": "caf\xe9.jpg"}', b"[1e400]"]
    path = tmp_path / "review.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    records, warnings = read_review_file(path)
    assert records == [good, second]
    left = "line left out (not saved back)"
    assert warnings == [
        f"{path}:2: crops[0]: no ratio; {left}",
        f"{path}:3: no status; {left}",
        f"{path}:4: a NUL byte; {left}",
        f"{path}:5: not UTF-8 text (byte 0xe9 at column 16); {left}",
        f"{path}:6: the number 1e400 is out of range; {left}",
        f"{path}:7: a record of status ok has a width and a height; {left}",
        f"{path}:8: a second record of {tmp_path / 'x' / '..' / 'a.jpg'}: kept as it is, not "
        "shown",
    ]


def test_the_first_of_two_records_of_a_photo_is_reviewed_the_second_kept(tmp_path):
    """Issue 32, item 14: never dropped silently."""
    (tmp_path / "a.jpg").write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    first = manifest_record(tmp_path / "a.jpg")
    second = {**manifest_record(tmp_path / "a.jpg"), "reviewed": "later"}
    found = plan(scan_inputs([tmp_path / "a.jpg"]), [first, second], ("4:3", "1:1"))
    assert list(found.reused.values()) == [review_form(first)]
    assert found.others == [second]


def test_a_file_that_cannot_be_saved_is_found_at_once(tmp_path):
    """Issue 32, item 14: before the photos are analysed."""
    check_file(tmp_path / "new" / "review.jsonl")  # a folder to make: fine
    (tmp_path / "a-file").write_text("")
    with pytest.raises(OutputError) as caught:
        check_file(tmp_path / "a-file" / "review.jsonl")
    assert str(caught.value) == (
        f"{tmp_path / 'a-file' / 'review.jsonl'}: cannot write: {tmp_path / 'a-file'} does not "
        "take new files"
    )
    (tmp_path / "review.jsonl").write_text("")
    (tmp_path / "review.jsonl").chmod(0o444)
    with pytest.raises(OutputError, match="review.jsonl: read-only; left as it is"):
        check_file(tmp_path / "review.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(OutputError) as caught:
        check_file(tmp_path / "dir.jsonl")
    assert str(caught.value) == f"{tmp_path / 'dir.jsonl'}: cannot write: a folder is in its place"


@pytest.mark.slow
def test_a_moved_box_is_saved_with_the_score_sacrop_score_gives(tmp_path):
    from sacrop_cli.api import Cropper

    photo = tmp_path / "coffee.jpg"
    shutil.copy(EXAMPLES / "coffee.jpg", photo)
    record = review_form(manifest_record(photo))
    record["width"], record["height"] = 600, 400
    session = ReviewSession(tmp_path / "review.jsonl", [record])
    session.rescore = BoxScorer(lambda: Cropper(faces=False))  # the shipped weights
    session.change({"index": 0, "ratio": "4:3", "action": "box", "box": [150, 60, 470, 300]})
    saved = read_jsonl(session.path)[0]["crops"][0]
    assert saved["box"] == [150, 60, 470, 300]  # 320 x 240: 80 steps of 4 x 3, kept
    done = run("score", photo, "--box", "150,60,470,300")
    assert done.exit_code == 0, done.output
    assert abs(saved["score"] - json.loads(done.stdout)["score"]) <= 0.002
