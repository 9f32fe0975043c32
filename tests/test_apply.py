"""``run.apply``: the crops a manifest lists, checked against their photo and written as
``crop`` writes them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import EXAMPLES
from PIL import Image

from sacrop_cli.run.apply import Entry, apply_manifest, check_box, read_manifest
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


def test_read_manifest_keeps_what_apply_needs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"source": "a.jpg", "crops": []}\n[1]\n\n{"source": "a.jpg"}\n')
    photos, errors, warnings = read_manifest(manifest)
    assert photos == {str(tmp_path / "a.jpg"): Entry("a.jpg")}
    assert errors == [f"{manifest}:2: not a manifest record (not a JSON object)"]
    assert warnings == []


def coffee(folder, name="a.jpg"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes((EXAMPLES / "coffee.jpg").read_bytes())  # 600 x 400
    return folder / name


def test_crops_land_in_the_folder_their_record_names_and_never_outside_it(tmp_path):
    """Issue 32, item 1: the record's folder (as crop placed them) under -o; one naming a
    folder outside is one error line and nothing is written outside."""
    a, b = coffee(tmp_path / "pics"), coffee(tmp_path / "other", "c.jpg")
    box = {"ratio": "4:3", "rank": 1, "box": [0, 0, 400, 300]}
    lines = [
        {"source": str(a), "folder": ".", "crops": [box]},
        {"source": str(b), "folder": "sub/../deep", "crops": [box]},
        {"source": str(coffee(tmp_path / "x", "d.jpg")), "folder": "../../escape", "crops": [box]},
        {"source": str(coffee(tmp_path / "x", "e.jpg")), "folder": "/abs/x", "crops": [box]},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "out" / "x" / "y"
    report = apply_manifest(manifest, CropJob(out_dir=out))
    assert [r["error"] for r in report.records] == [
        None,
        None,
        f"{tmp_path / 'x' / 'd.jpg'}: its crops' folder '../../escape' leads out of the output "
        "folder",
        f"{tmp_path / 'x' / 'e.jpg'}: its crops' folder '/abs/x' is not a folder inside the "
        "output folder",
    ]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.4x3.1.jpg")) == [
        "out/x/y/a.4x3.1.jpg",
        "out/x/y/deep/c.4x3.1.jpg",
    ]
    assert not (tmp_path / "escape").exists() and not (tmp_path / "out" / "escape").exists()


def test_a_link_inside_the_output_folder_does_not_lead_crops_out_of_it(tmp_path):
    """Issue 32, item 1: the real path of the crops' folder is checked before any write."""
    a = coffee(tmp_path / "pics")
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path / "elsewhere")
    manifest = tmp_path / "m.jsonl"
    crop = {"ratio": "4:3", "rank": 1, "box": [0, 0, 400, 300]}
    manifest.write_text(json.dumps({"source": str(a), "folder": "link", "crops": [crop]}) + "\n")
    (record,) = apply_manifest(manifest, CropJob(out_dir=tmp_path / "out")).records
    assert record["error"] == (
        f"{a}: its crops' folder {tmp_path / 'out' / 'link'} leads out of {tmp_path / 'out'}"
    )
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_sources_with_dot_dot_are_mirrored_from_their_real_folders(tmp_path, monkeypatch):
    """Issue 32, items 1 and 2: records without a folder, sources with ``..``: sub-folders
    from the real paths, all inside -o (no traceback, nothing beside it)."""
    monkeypatch.chdir(tmp_path)
    coffee(tmp_path / "photos")
    coffee(tmp_path / "photos" / "sub", "b.jpg")
    (tmp_path / "dir").mkdir()
    crop = {"ratio": "1:1", "rank": 1, "box": [0, 0, 400, 400]}
    lines = [
        {"source": "dir/../photos/a.jpg", "crops": [crop]},
        {"source": "photos/sub/../sub/b.jpg", "crops": [crop]},
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    report = apply_manifest(manifest, CropJob(out_dir="out/x"))
    assert [r["crops"][0]["path"] for r in report.records] == [
        "out/x/a.1x1.1.jpg",
        "out/x/sub/b.1x1.1.jpg",
    ]
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"source": "../" * 12 + f"{tmp_path}/photos/a.jpg", "crops": [crop]}))
    (record,) = apply_manifest(one, CropJob(out_dir="out/y")).records
    assert record["crops"][0]["path"] == "out/y/a.1x1.1.jpg"


@pytest.mark.parametrize(
    "line, problem",
    [
        ('"box": [0, 0, Infinity, 300]', "Infinity is not a JSON number"),
        ('"box": [0, 0, 1e400, 300]', "the number 1e400 is out of range"),
        ('"box": [0, 0, ' + "9" * 5000 + ", 300]", "an integer of 5000 digits (at most 15)"),
        ('"box": [0, 0, 4e9, 300]', None),
        ('"box": [0, 0, 400.5, 300]', None),
        ('"box": [0, 0, true, 300]', None),
        ('"box": "0,0,400,300"', None),
        ('"box": [0, 0, 400, 300], "rank": 0', None),
    ],
)
def test_a_bad_number_fails_its_line_alone(tmp_path, line, problem):
    """Issue 32, item 3: one error line each (no OverflowError or ValueError traceback); the
    next line's photo is still written."""
    a = coffee(tmp_path)
    manifest = tmp_path / "m.jsonl"
    good = {"source": str(a), "crops": [{"ratio": "4:3", "rank": 2, "box": [0, 0, 400, 300]}]}
    manifest.write_text(
        f'{{"source": "{a}", "crops": [{{"ratio": "4:3", "rank": 1, {line}}}]}}\n'
        + json.dumps(good)
        + "\n"
    )
    report = apply_manifest(manifest, CropJob(out_dir=tmp_path / "out"))
    bad, ok = report.records
    assert bad["error"].startswith(f"{manifest}:1: ")
    if problem:
        assert bad["error"] == f"{manifest}:1: {problem}"
    else:
        assert "not a manifest record (crops[0]." in bad["error"]
    assert ok["crops"][0]["status"] == "written"


def test_a_photo_of_another_size_than_its_record_is_not_cropped(tmp_path):
    """Issue 32, item 9: a photo replaced (here by a 2x upscale) since its record was made."""
    a = coffee(tmp_path)
    with Image.open(a) as im:
        im.resize((1200, 800)).save(tmp_path / "b.jpg")
    crop = {"ratio": "4:3", "rank": 1, "box": [0, 0, 400, 300]}
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"source": str(p), "width": 600, "height": 400, "crops": [crop]}) + "\n"
            for p in (a, tmp_path / "b.jpg")
        )
    )
    report = apply_manifest(manifest, CropJob(out_dir=tmp_path / "out"))
    assert [r["error"] for r in report.records] == [
        None,
        f"{tmp_path / 'b.jpg'}: the photo is 1200x800 but its record is of a 600x400 photo "
        "(replaced since?); not cropped",
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.4x3.1.jpg"]


def test_a_crop_listed_twice_is_one_warning_and_the_first_is_kept(tmp_path, monkeypatch):
    """Issue 32, item 15: never "already exists", never the last box silently winning."""
    monkeypatch.chdir(tmp_path)
    coffee(tmp_path)
    first = {"ratio": "4:3", "rank": 1, "box": [0, 0, 400, 300]}
    second = {"ratio": "4x3", "rank": 1, "box": [200, 100, 600, 400]}
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"source": "a.jpg", "crops": [first]})
        + "\n"
        + json.dumps({"source": "./a.jpg", "crops": [second]})
        + "\n"
    )
    for overwrite in (False, True):
        report = apply_manifest(manifest, CropJob(out_dir="out", overwrite=overwrite))
        (record,) = report.records
        assert record["status"] == "ok"
        assert [c["box"] for c in record["crops"]] == [[0, 0, 400, 300]]
        assert report.warnings == [
            f"{manifest}:2: ./a.jpg: crop 4x3 #1 is listed again; the first one is kept"
        ]
    with Image.open("out/a.4x3.1.jpg") as im, Image.open("a.jpg") as src:
        got = np.asarray(im.convert("RGB"), float)
        assert np.abs(got - np.asarray(src.convert("RGB").crop((0, 0, 400, 300)), float)).mean() < 3


@pytest.mark.parametrize("ratio", ["4:3\n", "4:3/../../x", "4 : 3", ""])
def test_a_ratio_that_is_not_one_puts_nothing_in_a_name(tmp_path, ratio):
    """Issue 32, item 15: no line break (or path) from a ratio into a file name."""
    a = coffee(tmp_path)
    manifest = tmp_path / "m.jsonl"
    crop = {"ratio": ratio, "rank": 1, "box": [0, 0, 400, 300]}
    manifest.write_text(json.dumps({"source": str(a), "crops": [crop]}) + "\n")
    (record,) = apply_manifest(manifest, CropJob(out_dir=tmp_path / "out")).records
    assert record["status"] == "error"
    assert record["error"].startswith(f"{manifest}:1: {a}: ")
    assert "ratio" in record["error"]
    assert not (tmp_path / "out").exists()


def test_a_source_the_system_refuses_is_one_error(tmp_path):
    """Issue 32: a name too long for the file system is a missing photo, not a traceback."""
    manifest = tmp_path / "m.jsonl"
    long_name, deep = "a" * 300 + ".jpg", "/" + "b/" * 2000 + "c.jpg"
    manifest.write_text("".join(json.dumps({"source": s}) + "\n" for s in (long_name, deep)))
    report = apply_manifest(manifest, CropJob(out_dir=tmp_path / "out"))
    assert [r["error"] for r in report.records] == [
        f"{long_name}: no such file or folder",
        f"{deep}: no such file or folder",
    ]


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
