"""A rerun over a finished folder: photos whose crops are all there are not read again."""

from __future__ import annotations

import pytest
from PIL import Image
from helpers import read_jsonl, run, small_photos, summary_count

from sacrop_cli.run import local, writers
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.naming import OutputPlan
from sacrop_cli.run.resume import DONE, Resume, previous_records
from sacrop_cli.run.writers import LocalWriter


def never(*args, **kwargs):
    raise OSError(5, "a done photo was read")  # becomes the photo's error


def test_a_rerun_skips_done_photos_unread_and_says_how_many(
    use_random_weights, tmp_path, monkeypatch
):
    src, out, manifest = tmp_path / "in", tmp_path / "out", tmp_path / "m.jsonl"
    small_photos(src, 3)
    args = ("crop", src, "-r", "4:3", "-r", "1:1", "-k", "2", "-o", out)
    first = run(*args, "--manifest", manifest)
    assert first.exit_code == 0
    before = read_jsonl(manifest)
    assert len(list(out.iterdir())) == 12

    (out / "p01.1x1.2.jpg").unlink()  # p01 is not done: it alone is analysed again
    monkeypatch.setattr(local, "open_for_analysis", never)
    again = run(*args, "--manifest", manifest, "--json")
    assert again.exit_code == 1 and "p01.jpg: a done photo was read" in again.stderr
    assert summary_count(again.stderr, "Photos already done (skipped, not read)") == 2
    assert summary_count(again.stderr, "Already existing (kept)") == 8
    monkeypatch.undo()

    run(*args, "--manifest", manifest)  # p01's crop made again; then everything is done
    monkeypatch.setattr(local, "open_for_analysis", never)
    monkeypatch.setattr(writers, "open_photo", never)
    last = run(*args, "--manifest", manifest)
    assert last.exit_code == 0, last.stderr
    assert summary_count(last.stderr, "Photos already done (skipped, not read)") == 3
    assert summary_count(last.stderr, "Already existing (kept)") == 12
    # the records come from the previous manifest, in input order
    exists = [{**r, "crops": [{**c, "status": "exists"} for c in r["crops"]]} for r in before]
    assert [r["source"] for r in read_jsonl(manifest)] == [r["source"] for r in before]
    assert read_jsonl(manifest)[0] == exists[0] and read_jsonl(manifest)[2] == exists[2]

    # without a previous manifest, the record says why the photo was skipped
    alone = run(*args, "--manifest", tmp_path / "new.jsonl", "-q")
    assert alone.exit_code == 0
    assert [r["error"] for r in read_jsonl(tmp_path / "new.jsonl")] == [
        f"{src / f'p0{i}.jpg'}: skipped: {DONE}" for i in range(3)
    ]


@pytest.mark.parametrize(
    ("job", "on"),
    [
        (CropJob(ratios=("4:3",)), True),
        (CropJob(ratios=("4:3",), overwrite=True), False),
        (CropJob(ratios=("4:3",), dry_run=True), False),
        (CropJob(ratios=("4:3",), orient=True), False),  # 4:3 may be named 3x4
        (CropJob(ratios=("1:1", "any", "original"), orient=True), True),
    ],
)
def test_which_jobs_can_know_the_names_beforehand(job, on, tmp_path):
    assert Resume(job, LocalWriter(lambda out: False)).on is on


def test_the_names_are_every_ratio_and_rank(tmp_path):
    resume = Resume(CropJob(ratios=("4:3", "any"), top_k=2), LocalWriter(lambda out: False))
    plan = OutputPlan(str(tmp_path), "a-2.JPG", ".jpg")
    assert resume.outputs(plan) == [
        str(tmp_path / name)
        for name in ["a-2.4x3.1.jpg", "a-2.4x3.2.jpg", "a-2.any.1.jpg", "a-2.any.2.jpg"]
    ]
    assert resume.done(tmp_path / "a.JPG", OutputPlan(str(tmp_path), "a.JPG", None)) is None


def test_an_unreadable_previous_manifest_is_no_manifest_and_a_bad_line_no_record(tmp_path):
    """Issue 32: one bad line is one line, the others still save work."""
    (tmp_path / "m.jsonl").write_bytes(
        b'{"source": "a.jpg"}\nnot json\n{"source": "b\xff.jpg"}\n{"source": "c.jpg", '
        b'"crops": [{"ratio": "4:3", "rank": 1, "box": [0, 0, 1e400, 3]}]}\n'
        b'{"source": "a.jpg", "status": "error"}\n'
    )
    assert previous_records(tmp_path / "m.jsonl") == {"a.jpg": {"source": "a.jpg"}}
    assert previous_records(tmp_path / "none.jsonl") == {}
    assert previous_records(tmp_path) == {}
    assert previous_records(None) == {}


def damage(path, how):
    """Break a crop file as a killed copy, a person or a disk would."""
    data = path.read_bytes()
    if how == "folder":
        path.unlink()
        path.mkdir()
    else:
        path.write_bytes({"empty": b"", "cut": data[: len(data) // 2], "garbage": b"x" * 999}[how])


@pytest.mark.parametrize("how", ["empty", "cut", "garbage", "folder", "other-size"])
def test_a_broken_crop_does_not_make_its_photo_done(tmp_path, how):
    """Issue 32, item 5: only a whole image of the size its box says counts as done."""
    (photo,) = small_photos(tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    crop = out / "p00.4x3.1.jpg"
    Image.new("RGB", (120, 90), "red").save(crop)
    entry = {"ratio": "4:3", "rank": 1, "box": [10, 0, 130, 90], "path": str(crop)}
    previous = {str(photo): {"status": "ok", "crops": [{**entry, "status": "written"}]}}
    resume = Resume(CropJob(ratios=("4:3",), top_k=1), LocalWriter(lambda out: False), previous)
    plan = OutputPlan(str(out), "p00.jpg", ".jpg")
    assert resume.done(photo, plan)[1] == 1
    if how == "other-size":
        Image.new("RGB", (240, 180), "red").save(crop)
    else:
        damage(crop, how)
    assert resume.done(photo, plan) is None


@pytest.mark.slow
@pytest.mark.parametrize("how", ["empty", "cut", "garbage"])
def test_a_rerun_makes_a_broken_crop_again(use_random_weights, tmp_path, how):
    """Issue 32, item 5: not "already done" and exit 0, nor "exists" and kept: written again."""
    src, out = tmp_path / "in", tmp_path / "out"
    small_photos(src, 1)
    args = ("crop", src, "-r", "4:3", "-o", out, "-k", "1")
    assert run(*args).exit_code == 0
    crop = out / "p00.4x3.1.jpg"
    whole = crop.read_bytes()
    damage(crop, how)
    again = run(*args)
    assert again.exit_code == 0, again.stderr
    assert summary_count(again.stderr, "Crops written to") == 1
    assert crop.read_bytes() == whole


@pytest.mark.slow
def test_a_crop_replaced_by_a_folder_is_one_error(use_random_weights, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    small_photos(src, 1)
    args = ("crop", src, "-r", "4:3", "-o", out, "-k", "1")
    assert run(*args).exit_code == 0
    damage(out / "p00.4x3.1.jpg", "folder")
    again = run(*args)
    assert again.exit_code == 1
    assert f"{out / 'p00.4x3.1.jpg'}: cannot write: Is a directory" in again.stderr
