"""``run.apply``: the crops a manifest lists, checked against their photo and written as
``crop`` writes them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import EXAMPLES
from PIL import Image

from sacrop_cli.run.apply import apply_manifest, check_box, read_manifest
from sacrop_cli.run.job import CropJob
from sacrop_cli.search import Crop


@pytest.mark.parametrize(
    "ratio, box, problem",
    [
        ("4:3", (0, 0, 400, 300), None),
        ("4:3", (0, 0, 401, 300), None),  # a pixel of rounding
        ("4:3", (0, 0, 403, 300), "is 403x300, not 4:3"),
        ("any", (10, 20, 30, 400), None),
        ("original", (0, 0, 300, 200), None),  # the photo's own 3:2
        ("original", (0, 0, 300, 300), "is 300x300, not original"),
        ("1:1", (500, 0, 700, 200), "is outside the 600x400 photo"),
        ("1:1", (-1, 0, 99, 100), "is outside the 600x400 photo"),
        ("1:1", (100, 100, 100, 200), "is empty"),
    ],
)
def test_a_box_must_lie_in_its_photo_and_be_of_its_ratio(ratio, box, problem):
    why = check_box(Crop(ratio, 2, box, 0.0), 600, 400)
    assert why == (None if problem is None else f"crop {ratio} #2: box {list(box)} {problem}")


def record(source, *crops):
    return {
        "source": str(source),
        "crops": [{"ratio": r, "rank": k, "box": list(b)} for r, k, b in crops],
    }


def test_the_chosen_boxes_are_written_and_a_broken_one_fails_its_photo_alone(tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for name in ("a.jpg", "sub/b.jpg", "c.jpg"):
        (photos / name).write_bytes((EXAMPLES / "coffee.jpg").read_bytes())  # 600 x 400
    manifest = tmp_path / "picks.jsonl"
    lines = [
        record(photos / "a.jpg", ("4:3", 1, (100, 40, 500, 340)), ("1:1", 2, (0, 0, 400, 400))),
        record(photos / "sub" / "b.jpg", ("16:9", 1, (0, 0, 640, 360))),  # wider than the photo
        record(photos / "c.jpg", ("any", 1, (10, 20, 110, 70))),
    ]
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines) + "{oops\n")
    out = tmp_path / "out"
    report = apply_manifest(manifest, CropJob(out_dir=out))
    broken, a, b, c = report.records  # the malformed line first, then the photos
    assert [(e["path"], e["status"]) for e in a["crops"]] == [
        (str(out / "a.4x3.1.jpg"), "written"),
        (str(out / "a.1x1.2.jpg"), "written"),
    ]
    assert (b["status"], b["error"], b["crops"]) == (
        "error",
        f"{photos / 'sub' / 'b.jpg'}: crop 16:9 #1: box [0, 0, 640, 360] is outside the "
        "600x400 photo",
        [],
    )
    assert c["crops"][0]["path"] == str(out / "c.any.1.jpg")
    assert broken["status"] == "error" and broken["error"].startswith(f"{manifest}:4: not JSON")
    assert sorted(p.name for p in out.rglob("*")) == ["a.1x1.2.jpg", "a.4x3.1.jpg", "c.any.1.jpg"]
    assert report.failed and report.counts["crops_written"] == 3
    with Image.open(out / "c.any.1.jpg") as im, Image.open(photos / "c.jpg") as src:
        assert im.size == (100, 50)
        got = np.asarray(im.convert("RGB"), float)
        want = np.asarray(src.convert("RGB").crop((10, 20, 110, 70)), float)
        assert np.abs(got - want).mean() < 3  # the same pixels, JPEG-encoded again
    # again: the crops are there and kept; with overwrite, written again
    again = apply_manifest(manifest, CropJob(out_dir=out))
    assert [e["status"] for e in again.records[1]["crops"]] == ["exists", "exists"]
    again = apply_manifest(manifest, CropJob(out_dir=out, overwrite=True, format="png"))
    assert again.records[3]["crops"][0]["path"] == str(out / "c.any.1.png")


def test_sub_folders_are_mirrored_from_the_folder_the_photos_share(tmp_path):
    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for name in ("a.jpg", "sub/b.jpg"):
        (photos / name).write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps(record(photos / "a.jpg", ("1:1", 1, (0, 0, 400, 400))))
        + "\n"
        + json.dumps(record(photos / "sub" / "b.jpg", ("1:1", 1, (0, 0, 400, 400))))
        + "\n"
        + json.dumps(record(tmp_path / "gone.jpg", ("1:1", 1, (0, 0, 4, 4))))
        + "\n"
    )
    report = apply_manifest(manifest, CropJob(out_dir=tmp_path / "out"))
    assert [r["crops"][0]["path"] if r["crops"] else r["error"] for r in report.records] == [
        f"{tmp_path / 'gone.jpg'}: no such file or folder",
        str(tmp_path / "out" / "photos" / "a.1x1.1.jpg"),
        str(tmp_path / "out" / "photos" / "sub" / "b.1x1.1.jpg"),
    ]


def test_read_manifest_keeps_what_apply_needs(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"source": "a.jpg", "crops": []}\n[1]\n\n{"source": "a.jpg"}\n')
    assert read_manifest(manifest) == (
        {"a.jpg": []},
        [f"{manifest}:2: not a manifest record (a source and its crops)"],
    )


def test_photos_are_written_two_at_once_and_reported_in_manifest_order(tmp_path, monkeypatch):
    """apply writes through the write workers: here the first photo's crop waits until the
    second's is written, which it could not on one thread; records stay in manifest order."""
    import threading

    from sacrop_cli.run import writers

    monkeypatch.setattr(writers, "cpu_cores", lambda: 2)
    photos = tmp_path / "photos"
    photos.mkdir()
    names = ("a.jpg", "b.jpg", "c.jpg")
    for name in names:
        (photos / name).write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    manifest = tmp_path / "picks.jsonl"
    lines = [record(photos / n, ("4:3", 1, (100, 40, 500, 340))) for n in names]
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    b_written, order = threading.Event(), []
    save_photo = writers._save_photo

    def a_waits_for_b(rec, *args, **kwargs):
        if rec["source"].endswith("a.jpg"):
            assert b_written.wait(30), "b was not written while a waited"
        save_photo(rec, *args, **kwargs)
        order.append(rec["source"][-5:])
        if rec["source"].endswith("b.jpg"):
            b_written.set()

    monkeypatch.setattr(writers, "_save_photo", a_waits_for_b)
    seen = []
    report = apply_manifest(
        manifest, CropJob(out_dir=tmp_path / "out"), on_progress=lambda r, w: seen.append(r)
    )
    assert order.index("b.jpg") < order.index("a.jpg")
    assert [r["source"] for r in seen] == [str(photos / n) for n in names]
    assert [r["crops"][0]["status"] for r in report.records] == ["written"] * 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.4x3.1.jpg",
        "b.4x3.1.jpg",
        "c.4x3.1.jpg",
    ]
