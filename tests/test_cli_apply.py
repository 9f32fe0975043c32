"""``sacrop apply``: the exit status and messages of the command."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import EXAMPLES, run
from PIL import Image


def test_apply_writes_the_crops_and_exits_1_when_a_photo_fails(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    picks = tmp_path / "picks.jsonl"
    good = {"source": "a.jpg", "crops": [{"ratio": "4:3", "rank": 2, "box": [0, 100, 400, 400]}]}
    bad = {"source": "b.jpg", "crops": [{"ratio": "4:3", "rank": 1, "box": [0, 0, 300, 300]}]}
    picks.write_text(json.dumps(good) + "\n")
    result = run("apply", picks, "-o", "out")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "out" / "a.4x3.2.jpg") as im:
        assert im.size == (400, 300)
    picks.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    result = run("apply", picks, "-o", "out")
    assert result.exit_code == 1
    assert "error: b.jpg: crop 4:3 #1: box [0, 0, 300, 300] is 300x300, not 4:3\n" in result.output
    assert "0 crop(s) written to out, 1 already there (kept), 1 photo(s) failed" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.4x3.2.jpg"]


def test_a_missing_manifest_is_one_error(tmp_path):
    result = run("apply", tmp_path / "nope.jsonl")
    assert result.exit_code == 1
    assert result.output == (
        f"error: {tmp_path / 'nope.jsonl'}: cannot read the manifest: No such file or directory\n"
    )


def test_apply_places_crops_where_crop_placed_them(tmp_path, monkeypatch):
    """Issue 32, item 1: photos given one by one (one of them by ``../``) go to the top of -o,
    photos found in a folder to its sub-folders, with crop as with apply of its manifest."""
    work = tmp_path / "work"
    (work / "pics").mkdir(parents=True)
    (tmp_path / "other").mkdir()
    (work / "shoot" / "sub").mkdir(parents=True)
    for path in ("work/pics/x.jpg", "other/c.jpg", "work/shoot/a.jpg", "work/shoot/sub/b.jpg"):
        (tmp_path / path).write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    monkeypatch.chdir(work)
    given = ("pics/x.jpg", "../other/c.jpg", "shoot")
    assert run("crop", *given, "-r", "4:3", "-o", "by-crop", "--manifest", "m.jsonl").exit_code == 0
    assert run("apply", "m.jsonl", "-o", "by-apply").exit_code == 0
    placed = ["a.4x3.1.jpg", "c.4x3.1.jpg", "sub/b.4x3.1.jpg", "x.4x3.1.jpg"]
    for out in ("by-crop", "by-apply"):
        assert sorted(str(p.relative_to(out)) for p in Path(out).rglob("*.jpg")) == placed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "work"]
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["c.jpg"]


def test_a_dry_runs_manifest_applies_its_photos_and_passes_over_the_rest(tmp_path):
    shoot = tmp_path / "shoot"
    shoot.mkdir()
    (shoot / "a.jpg").write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    (shoot / "CREDITS").write_text("photographers\n")
    manifest = tmp_path / "m.jsonl"
    found = run("crop", shoot, "-r", "4:3", "-n", "--manifest", manifest, "--no-faces")
    assert found.exit_code == 0, found.output
    failed = {"source": str(shoot / "b.jpg"), "status": "error", "error": "b.jpg: broken"}
    with manifest.open("a") as fh:
        fh.write(json.dumps(failed) + "\n")
    assert [r["status"] for r in map(json.loads, manifest.read_text().splitlines())] == [
        "skipped", "ok", "error"
    ]  # fmt: skip
    result = run("apply", manifest, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (
        f"1 crop(s) written to {tmp_path / 'out'}, 0 already there (kept), 0 photo(s) failed, "
        "2 record(s) passed over (not photos, or failed)"
    ) in " ".join(result.output.split())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.4x3.1.jpg"]
