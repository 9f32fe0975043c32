"""Output plans: a photo's crops are named from its path and its folder, whatever the run."""

from __future__ import annotations

from pathlib import Path

from helpers import pattern, read_jsonl, run

from sacrop_cli.run.naming import Namer


def photos(folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        pattern(160, 120).save(folder / name, "PNG" if name.endswith("png") else "JPEG")
    return [folder / name for name in names]


def stems(out: Path, fmt: str | None, sources: list[Path], root: Path | None) -> list[str]:
    namer = Namer(out, fmt, sources)
    return [Path(namer.plan(src, root).name).stem for src in sources]


def test_a_photos_name_does_not_depend_on_which_neighbours_the_run_is_given(tmp_path):
    upper, lower = photos(tmp_path / "in", "a.JPG", "a.jpg")
    out = tmp_path / "out"
    assert stems(out, None, [upper, lower], None) == ["a", "a-2"]
    assert stems(out, None, [lower], None) == ["a-2"]  # not the name of a.JPG's crops
    assert stems(out, None, [upper], None) == ["a"]


def test_names_differing_in_case_only_are_told_apart(tmp_path):
    # on a case-insensitive file system A.4x3.1.jpg and a.4x3.1.jpg are one file
    big, small = photos(tmp_path / "in", "A.jpg", "a.png")
    out = tmp_path / "out"
    assert stems(out, "jpeg", [small], tmp_path / "in") == ["a-2"]
    assert stems(out, "jpeg", [big, small], tmp_path / "in") == ["A", "a-2"]
    assert stems(out, None, [big, small], tmp_path / "in") == ["A", "a"]  # .jpg and .png


def test_a_rerun_of_one_photo_does_not_credit_another_photos_crop(use_random_weights, tmp_path):
    src = tmp_path / "in"
    upper, lower = photos(src, "a.JPG", "a.jpg")
    out, manifest = tmp_path / "out", tmp_path / "m.jsonl"
    assert run("crop", src, "-r", "4:3", "-o", out, "-q").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["a-2.4x3.1.jpg", "a.4x3.1.jpg"]
    (out / "a-2.4x3.1.jpg").unlink()  # the crop of a.jpg
    again = run("crop", lower, "-r", "4:3", "-o", out, "--manifest", manifest, "-q")
    assert again.exit_code == 0
    [record] = read_jsonl(manifest)
    assert record["crops"][0]["status"] == "written"
    assert record["crops"][0]["path"] == str(out / "a-2.4x3.1.jpg")
