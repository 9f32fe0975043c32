"""`sacrop crop` and `sacrop score` end to end on real files, with a random (seeded) model.

The random weights give arbitrary but deterministic scores: these tests check mechanics (exact
ratios, names, metadata, manifest, exit codes), not taste.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import piexif
import pytest
from helpers import (
    DNG_MODEL,
    EXAMPLES,
    REPO,
    exif_bytes,
    exiftool,
    files_under,
    make_dng,
    read_jsonl,
    require_module,
    run,
    snapshot,
    summary_count,
)
from PIL import Image, ImageCms

from sacrop_cli.boxes import box_iou

RATIOS = {"4x3": (4, 3), "16x9": (16, 9), "1x1": (1, 1)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def writable_copy(src: Path, dst: Path) -> Path:
    """The examples are read-only; ``shutil.copy`` would keep that mode."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    return dst


def assert_exact_ratio(size: tuple[int, int], rw: int, rh: int) -> None:
    w, h = size
    assert abs(h - w * rh / rw) <= 0.5, (size, rw, rh)


# -- ratios, names, folders ------------------------------------------------------------------


def test_two_ratios_in_one_run_are_exact_to_the_pixel(use_random_weights, photo_dir, tmp_path):
    out = tmp_path / "out"
    result = run(
        "crop",
        photo_dir,
        "--ratio",
        "16:9",
        "--ratio",
        "1:1",
        "-o",
        out,
        "--manifest",
        tmp_path / "m.jsonl",
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert names == [
        "chelsea-cat.16x9.1.jpg",
        "chelsea-cat.1x1.1.jpg",
        "coffee.16x9.1.jpg",
        "coffee.1x1.1.jpg",
        "sub/rocket.16x9.1.jpg",
        "sub/rocket.1x1.1.jpg",
    ]
    for path in out.rglob("*.jpg"):
        with Image.open(path) as im:
            assert_exact_ratio(im.size, *RATIOS[path.name.split(".")[1]])


def test_original_ratio_keeps_the_photo_shape(use_random_weights, photo_dir, tmp_path):
    out = tmp_path / "out"
    assert (
        run(
            "crop", photo_dir / "chelsea-cat.jpg", "--ratio", "original", "-o", out, "-k", "2"
        ).exit_code
        == 0
    )
    for rank in (1, 2):
        with Image.open(out / f"chelsea-cat.original.{rank}.jpg") as im:
            assert_exact_ratio(im.size, 451, 300)


def test_any_ratio_uses_the_free_grid(use_random_weights, photo_dir, tmp_path):
    out, manifest = tmp_path / "out", tmp_path / "m.jsonl"
    assert run("crop", photo_dir / "coffee.jpg", "-o", out, "--manifest", manifest).exit_code == 0
    [crop] = read_jsonl(manifest)[0]["crops"]
    assert crop["ratio"] == "any" and crop["path"] == str(out / "coffee.any.1.jpg")
    x1, y1, x2, y2 = crop["box"]
    assert 0.5 < (x2 - x1) / (y2 - y1) < 2 and (x2 - x1) * (y2 - y1) >= 0.5 * 600 * 400 * 0.9


def test_no_refine_returns_the_candidates_own_boxes(use_random_weights, photo_dir):
    from sacrop_cli.candidates import candidates_for, gaic_grid
    from sacrop_cli.ratios import parse_ratio

    result = run(
        "crop",
        photo_dir / "coffee.jpg",
        "-r",
        "any",
        "-r",
        "16:9",
        "-k",
        "2",
        "--dry-run",
        "--json",
        "--no-refine",
    )
    assert result.exit_code == 0
    crops = json.loads(result.stdout)["crops"]
    sets = {"any": gaic_grid(600, 400), "16:9": candidates_for(parse_ratio("16:9"), 600, 400)}
    assert len(crops) == 4
    for c in crops:
        assert c["box"] in sets[c["ratio"]].tolist()


def test_top_k_ranks_order_and_names_json_on_stdout(use_random_weights, photo_dir, tmp_path):
    out = tmp_path / "out"
    result = run("crop", photo_dir / "coffee.jpg", "-r", "4:3", "--top-k", "3", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    [record] = [json.loads(line) for line in result.stdout.splitlines()]  # nothing else on stdout
    crops = record["crops"]
    assert [c["rank"] for c in crops] == [1, 2, 3]
    assert all(a["score"] >= b["score"] for a, b in zip(crops, crops[1:]))
    assert [Path(c["path"]).name for c in crops] == [f"coffee.4x3.{k}.jpg" for k in (1, 2, 3)]
    assert len({tuple(c["box"]) for c in crops}) == 3
    assert "Crops written" in result.stderr  # the summary goes to stderr


def test_manifest_records_every_input_with_upright_size(use_random_weights, photo_dir, tmp_path):
    out, manifest = tmp_path / "out", tmp_path / "logs" / "m.jsonl"
    assert (
        run("crop", photo_dir, "-r", "4:3", "-k", "2", "-o", out, "--manifest", manifest).exit_code
        == 0
    )
    records = read_jsonl(manifest)
    expected = {
        str(photo_dir / "chelsea-cat.jpg"): (451, 300),
        str(photo_dir / "coffee.jpg"): (600, 400),
        str(photo_dir / "sub" / "rocket.jpg"): (640, 427),
    }
    assert {r["source"]: (r["width"], r["height"]) for r in records} == expected
    for record in records:
        assert record["status"] == "ok" and record["error"] is None
        assert [(c["ratio"], c["rank"]) for c in record["crops"]] == [("4:3", 1), ("4:3", 2)]
        for c in record["crops"]:
            x1, y1, x2, y2 = c["box"]
            assert 0 <= x1 < x2 <= record["width"] and 0 <= y1 < y2 <= record["height"]
            with Image.open(c["path"]) as im:
                assert im.size == (x2 - x1, y2 - y1)
    assert not list(manifest.parent.glob(".*.tmp"))


def test_dry_run_writes_no_images_but_the_manifest(use_random_weights, photo_dir, tmp_path):
    out, manifest = tmp_path / "out", tmp_path / "m.jsonl"
    result = run("crop", photo_dir, "--dry-run", "-r", "1:1", "-o", out, "--manifest", manifest)
    assert result.exit_code == 0, result.output
    assert not out.exists()
    records = read_jsonl(manifest)
    assert len(records) == 3
    assert all(c["path"] is None for r in records for c in r["crops"])
    assert all(len(r["crops"]) == 1 for r in records)


# -- never clobber -----------------------------------------------------------------------------


def test_existing_crops_are_kept_unless_overwrite(use_random_weights, photo_dir, tmp_path):
    out, manifest = tmp_path / "out", tmp_path / "m.jsonl"
    originals = {p: sha256(p) for p in photo_dir.rglob("*.jpg")}
    assert run("crop", photo_dir, "-r", "4:3", "-o", out).exit_code == 0
    target = out / "coffee.4x3.1.jpg"
    Image.new("RGB", (40, 30), "red").save(target)  # a whole image: kept (a broken one is not)
    earlier = target.read_bytes()

    again = run("crop", photo_dir, "-r", "4:3", "-o", out, "--manifest", manifest)
    assert again.exit_code == 0, again.output
    assert target.read_bytes() == earlier
    assert [r["status"] for r in read_jsonl(manifest)] == ["skipped"] * 3  # done: not read
    assert re.search(r"Already existing.*\b3\b", again.stderr)
    assert re.search(r"Photos already done.*\b3\b", again.stderr)

    forced = run("crop", photo_dir, "-r", "4:3", "-o", out, "--overwrite")
    assert forced.exit_code == 0
    with Image.open(target) as im:
        assert im.format == "JPEG"
    assert {p: sha256(p) for p in photo_dir.rglob("*.jpg")} == originals


def test_same_output_name_from_two_sources_gets_a_suffix(use_random_weights, tmp_path):
    src = tmp_path / "in"
    writable_copy(EXAMPLES / "coffee.jpg", src / "a.jpg")
    with Image.open(EXAMPLES / "rocket.jpg") as im:
        im.save(src / "a.png")
    out, manifest = tmp_path / "out", tmp_path / "m.jsonl"
    assert (
        run(
            "crop", src, "-r", "4:3", "--format", "jpeg", "-o", out, "--manifest", manifest
        ).exit_code
        == 0
    )
    paths = {Path(r["source"]).name: r["crops"][0]["path"] for r in read_jsonl(manifest)}
    assert paths == {"a.jpg": str(out / "a.4x3.1.jpg"), "a.png": str(out / "a-2.4x3.1.jpg")}
    assert sorted(p.name for p in out.iterdir()) == ["a-2.4x3.1.jpg", "a.4x3.1.jpg"]


def test_an_output_that_is_a_source_photo_is_refused(use_random_weights, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    writable_copy(EXAMPLES / "coffee.jpg", src / "x.jpg")
    # a photo of its own where it lies (no x photo beside it), named as x.jpg's crop
    victim = writable_copy(EXAMPLES / "rocket.jpg", out / "x.4x3.1.jpg")
    before = sha256(victim)
    result = run("crop", src / "x.jpg", victim, "-r", "4:3", "-o", out, "--overwrite")
    assert result.exit_code == 1
    assert "refusing to overwrite a source photo" in result.stderr
    assert sha256(victim) == before
    assert (out / "x.4x3.1.4x3.1.jpg").is_file()  # the other photo is still cropped


def test_a_file_named_as_a_crop_and_given_is_not_cropped_nor_written_over(
    use_random_weights, tmp_path
):
    """Beside x.jpg, x.4x3.1.jpg is taken for sacrop's own crop (never cropped again), but a
    file the person named is never written over, --overwrite or not."""
    src = tmp_path / "in"
    writable_copy(EXAMPLES / "coffee.jpg", src / "x.jpg")
    victim = writable_copy(EXAMPLES / "rocket.jpg", src / "x.4x3.1.jpg")
    before = sha256(victim)
    result = run("crop", src / "x.jpg", victim, "-r", "4:3", "-o", src, "--overwrite")
    assert result.exit_code == 1
    assert f"{victim}: refusing to overwrite a source photo" in result.stderr
    assert sha256(victim) == before
    assert sorted(p.name for p in src.iterdir()) == ["x.4x3.1.jpg", "x.jpg"]


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["4:0", "abc", "-1:2"])
def test_bad_ratio_is_a_usage_error(bad, photo_dir):
    result = run("crop", photo_dir, "--ratio", bad)
    assert result.exit_code == 2
    assert bad in result.output and "ratio" in result.output


@pytest.mark.parametrize("bad", ["0x100", "abc", "100x", "-5x5"])
def test_bad_max_size_is_a_usage_error(bad, photo_dir):
    result = run("crop", photo_dir, "--max-size", bad)
    assert result.exit_code == 2
    assert bad in result.output


def test_a_broken_file_fails_alone(use_random_weights, photo_dir, tmp_path):
    (photo_dir / "broken.jpg").write_text("not a photo")
    (photo_dir / "notes.txt").write_text("shot list")
    out, manifest = tmp_path / "out", tmp_path / "m.jsonl"
    result = run(
        "crop", photo_dir, tmp_path / "missing.jpg", "-r", "4:3", "-o", out, "--manifest", manifest
    )
    assert result.exit_code == 1
    assert len(list(out.rglob("*.jpg"))) == 3
    records = {Path(r["source"]).name: r for r in read_jsonl(manifest)}
    assert records["broken.jpg"]["status"] == "error"
    assert "broken.jpg" in records["broken.jpg"]["error"]
    assert records["missing.jpg"]["status"] == "error"
    assert [r["status"] for n, r in records.items() if n.endswith(("cat.jpg", "coffee.jpg"))] == [
        "ok",
        "ok",
    ]
    assert f"error: {photo_dir / 'broken.jpg'}: cannot identify image file" in result.stderr
    assert re.search(r"Skipped files.*\b1\b", result.stderr)
    assert re.search(r"Errors.*\b2\b", result.stderr)


def test_quiet_prints_only_errors(use_random_weights, photo_dir, tmp_path):
    (photo_dir / "broken.jpg").write_text("not a photo")
    result = run("crop", photo_dir, "-q", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {photo_dir / 'broken.jpg'}: cannot identify image file (not an image?)"
    ]


def test_warnings_are_shown_unless_quiet(use_random_weights, tmp_path):
    src = tmp_path / "in" / "anim.png"
    src.parent.mkdir()
    with Image.open(EXAMPLES / "chelsea-cat.jpg") as im:
        im.save(src, save_all=True, append_images=[im.rotate(180)])
    result = run("crop", src, "-o", tmp_path / "out")
    assert result.exit_code == 0
    assert (
        f"warning: {src}: animated image (2 frames): only the first frame is used" in result.stderr
    )
    quiet = run("crop", src, "-o", tmp_path / "out", "-q", "--overwrite")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_no_recursive_skips_sub_folders(use_random_weights, photo_dir, tmp_path):
    result = run("crop", photo_dir, "--no-recursive", "--dry-run", "--json")
    assert result.exit_code == 0
    sources = [json.loads(line)["source"] for line in result.stdout.splitlines()]
    assert sources == [str(photo_dir / "chelsea-cat.jpg"), str(photo_dir / "coffee.jpg")]


def test_no_trained_weights_exits_1_with_the_reason(photo_dir, tmp_path, monkeypatch):
    from sacrop_cli.model import registry as weights

    monkeypatch.delenv("SACROP_WEIGHTS", raising=False)
    monkeypatch.setattr(weights, "locate", lambda name, kind="onnx": None)
    result = run("crop", photo_dir, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "no trained weights are installed" in result.stderr
    assert not (tmp_path / "out").exists()


# -- metadata and formats ------------------------------------------------------------------------


def test_exif_round_trip_and_upright_crop(use_random_weights, tmp_path):
    src = writable_copy(EXAMPLES / "coffee.jpg", tmp_path / "in" / "tagged.jpg")  # 600x400 stored
    exif = {
        "0th": {
            piexif.ImageIFD.Make: b"Acme",
            piexif.ImageIFD.Model: b"Snap 1",
            piexif.ImageIFD.Orientation: 6,
        },
        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2024:05:06 07:08:09"},
    }
    piexif.insert(piexif.dump(exif), str(src))
    out, manifest = tmp_path / "out", tmp_path / "m.jsonl"
    assert run("crop", src, "-r", "4:3", "-o", out, "--manifest", manifest).exit_code == 0
    [record] = read_jsonl(manifest)
    assert (record["width"], record["height"]) == (400, 600)  # portrait once upright
    x1, y1, x2, y2 = record["crops"][0]["box"]
    assert x2 <= 400 and y2 <= 600
    with Image.open(out / "tagged.4x3.1.jpg") as im:
        assert im.size == (x2 - x1, y2 - y1)
        assert_exact_ratio(im.size, 4, 3)
        tags = piexif.load(im.info["exif"])
    assert tags["0th"][piexif.ImageIFD.Make] == b"Acme"
    assert tags["0th"][piexif.ImageIFD.Model] == b"Snap 1"
    assert tags["0th"][piexif.ImageIFD.Orientation] == 1
    assert tags["Exif"][piexif.ExifIFD.DateTimeOriginal] == b"2024:05:06 07:08:09"


def test_icc_profile_is_kept(use_random_weights, tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "in" / "profiled.jpg"
    src.parent.mkdir()
    with Image.open(EXAMPLES / "chelsea-cat.jpg") as im:
        im.save(src, quality=95, icc_profile=icc)
    out = tmp_path / "out"
    assert run("crop", src, "-r", "1:1", "-o", out).exit_code == 0
    with Image.open(out / "profiled.1x1.1.jpg") as im:
        assert im.info["icc_profile"] == icc


def test_png_stays_png_webp_on_request_and_max_size(use_random_weights, tmp_path):
    src = tmp_path / "in" / "pic.png"
    src.parent.mkdir()
    with Image.open(EXAMPLES / "rocket.jpg") as im:
        im.save(src)
    out = tmp_path / "out"
    assert run("crop", src, "-r", "4:3", "-o", out).exit_code == 0
    with Image.open(out / "pic.4x3.1.png") as im:
        assert im.format == "PNG"
    assert (
        run(
            "crop", src, "-r", "4:3", "-o", out, "--format", "webp", "--max-size", "100x100"
        ).exit_code
        == 0
    )
    with Image.open(out / "pic.4x3.1.webp") as im:
        assert im.format == "WEBP"
        assert max(im.size) == 100 and im.size == (100, 75)


# -- score -----------------------------------------------------------------------------------------


def test_score_matches_the_crop_manifest(use_random_weights, photo_dir, tmp_path):
    photo, manifest = photo_dir / "coffee.jpg", tmp_path / "m.jsonl"
    assert (
        run(
            "crop",
            photo_dir,
            "-r",
            "4:3",
            "-r",
            "1:1",
            "-k",
            "2",
            "--dry-run",
            "--manifest",
            manifest,
        ).exit_code
        == 0
    )
    crops = next(r for r in read_jsonl(manifest) if r["source"] == str(photo))["crops"]
    boxes_file = tmp_path / "boxes.json"
    boxes_file.write_text(json.dumps([c["box"] for c in crops[1:]]))
    result = run(
        "score", photo, "--box", ",".join(map(str, crops[0]["box"])), "--boxes", boxes_file
    )
    assert result.exit_code == 0, result.output
    scored = [json.loads(line) for line in result.stdout.splitlines()]  # one line per box
    assert len(scored) == 4 and all(set(s) == {"box", "score"} for s in scored)
    assert [s["box"] for s in scored] == [c["box"] for c in crops]
    for s, c in zip(scored, crops):
        assert s["score"] == pytest.approx(c["score"], abs=1.5e-4)


@pytest.mark.parametrize("bad", ["1,2,3", "a,b,c,d", "1,2,3,nan"])
def test_score_bad_box_is_a_usage_error(bad, photo_dir):
    result = run("score", photo_dir / "coffee.jpg", "--box", bad)
    assert result.exit_code == 2 and bad in result.output


def test_score_clips_a_box_partly_outside_and_warns(use_random_weights, photo_dir):
    photo = photo_dir / "coffee.jpg"
    result = run("score", photo, "--box", "-10,0,601,400", "--box", "0,0,600,400")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"warning: {photo}: box [-10, 0, 601, 400] reaches outside the 600x400 "
        "photo: scored as [0, 0, 600, 400]\n"
    )
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first == second and first["box"] == [0, 0, 600, 400]


def test_score_box_wholly_outside_the_photo_exits_1(use_random_weights, photo_dir):
    photo = photo_dir / "coffee.jpg"
    result = run("score", photo, "--box", "700,0,800,400")
    assert (result.exit_code, result.stdout) == (1, "")
    assert (
        result.stderr
        == f"error: {photo}: box [700, 0, 800, 400] is empty or outside the 600x400 photo\n"
    )


def test_score_takes_percent_boxes_as_keep_does(use_random_weights, photo_dir):
    photo = photo_dir / "coffee.jpg"  # 600 x 400: 10% of the width is 60, 12.5% is 75
    result = run("score", photo, "--box", "10%,0%,90%,100%", "--box", "60,0,540,400",
                 "--box", "12.5%,0,50%,50%")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    first, second, third = (json.loads(line) for line in result.stdout.splitlines())
    assert first == second and first["box"] == [60, 0, 540, 400]
    assert third["box"] == [75, 0, 300, 200]
    bad = run("score", photo, "--box", "50%,0,10%,100%")
    assert bad.exit_code == 2 and "x2 and y2 exceed its x1 and y1" in bad.output


def test_score_needs_a_box(photo_dir):
    assert run("score", photo_dir / "coffee.jpg").exit_code == 2


def test_earlier_crops_inside_the_input_folder_are_not_recropped(use_random_weights, photo_dir):
    out = photo_dir / "crops"
    assert run("crop", photo_dir, "-r", "1:1", "-o", out).exit_code == 0
    again = run("crop", photo_dir, "-r", "1:1", "-o", out)
    assert again.exit_code == 0
    assert "skipped 3 photo(s) inside the output folder" in again.stderr
    assert len(list(out.rglob("*.jpg"))) == 3


# -- startup ---------------------------------------------------------------------------------------


def test_version_via_python_m():
    proc = subprocess.run(
        [sys.executable, "-m", "sacrop_cli", "--version"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    from sacrop_cli import __version__

    assert __version__ in proc.stdout


def test_help_and_version_do_not_import_torch_numpy_or_pillow():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from sacrop_cli.cli.main import main\n"
        "for args in (['--help'], ['--version'], ['crop', '--help'], ['score', '--help'],\n"
        "             ['explain', '--help'], ['train', '--help'], ['weights', '--help']):\n"
        "    r = CliRunner().invoke(main, args)\n"
        "    assert r.exit_code == 0, r.output\n"
        "heavy = sorted({'torch', 'torchvision', 'numpy', 'PIL'} & set(sys.modules))\n"
        "assert not heavy, f'imported: {heavy}'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_cropping_does_not_import_torchvision(random_weights, photo_dir, tmp_path):
    # importing torchvision (and torch._dynamo with it) took a second of every `sacrop crop`
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from sacrop_cli.cli.main import main\n"
        f"r = CliRunner().invoke(main, ['crop', {str(photo_dir)!r}, '-r', '4:3', "
        f"'-o', {str(tmp_path / 'out')!r},\n"
        f"                              '--weights', {str(random_weights)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('torchvision', 'torch._dynamo')))\n"
        "assert not heavy, f'imported: {heavy[:5]}'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == 3


def test_max_pixels_default_shown_in_help_is_the_real_one():
    from sacrop_cli.io.imageio import DEFAULT_MAX_PIXELS

    assert f"[default: {DEFAULT_MAX_PIXELS}]" in " ".join(run("crop", "--help").output.split())


# -- what a new user tripped over ------------------------------------------------------------------


def test_skipped_files_are_named_at_v_and_in_the_manifest(use_random_weights, photo_dir, tmp_path):
    (photo_dir / "layers.PSD").write_bytes(b"8BPS")
    (photo_dir / "README").write_text("shot list")
    manifest = tmp_path / "m.jsonl"
    result = run("crop", photo_dir, "--dry-run", "-v", "--manifest", manifest)
    assert result.exit_code == 0, result.stderr
    for name, reason in (
        ("layers.PSD", ".psd files are not photos sacrop reads"),
        ("README", "no file extension"),
    ):
        line = f"{photo_dir / name}: skipped: {reason}"
        assert f"{line}\n" in result.stderr
        [record] = [r for r in read_jsonl(manifest) if r["source"] == str(photo_dir / name)]
        assert (record["status"], record["error"], record["crops"]) == ("skipped", line, [])


def test_heic_and_extensionless_photos_are_read_and_cropped_to_jpeg(use_random_weights, tmp_path):
    pillow_heif = require_module("pillow_heif", "pip install pillow-heif (a dependency)")
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        pillow_heif.from_pillow(im).save(tmp_path / "IMG_2000.HEIC", quality=90)
        im.save(tmp_path / "scan", "JPEG")  # a JPEG without extension
    result = run(
        "crop",
        tmp_path / "IMG_2000.HEIC",
        tmp_path / "scan",
        "-r",
        "4:3",
        "-o",
        tmp_path / "out",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    written = [Path(json.loads(line)["crops"][0]["path"]) for line in result.stdout.splitlines()]
    assert [p.name for p in written] == ["IMG_2000.4x3.1.jpg", "scan.4x3.1.jpg"]
    for path in written:
        with Image.open(path) as im:
            assert im.format == "JPEG"
            assert_exact_ratio(im.size, 4, 3)


def test_a_closed_stdout_ends_the_run_quietly(random_weights, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        shutil.copy(EXAMPLES / "coffee.jpg", folder / f"{i:02d}.jpg")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sacrop_cli",
            "crop",
            str(folder),
            "--dry-run",
            "--json",
            "--batch-size",
            "1",
            "--weights",
            str(random_weights),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    first = proc.stdout.readline()  # `| head -1`
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert json.loads(first)["source"] == str(folder / "00.jpg")
    assert (proc.wait(), stderr) == (141, "")


def test_manifest_dash_is_standard_output_and_files_get_the_crops_mode(
    use_random_weights, photo_dir, tmp_path
):
    import stat

    from sacrop_cli.io.atomic import default_file_mode

    result = run("crop", photo_dir, "--dry-run", "--manifest", "-", "-q")
    assert result.exit_code == 0 and not (Path.cwd() / "-").exists()
    assert len([json.loads(line) for line in result.stdout.splitlines()]) == 3
    manifest, out = tmp_path / "m.jsonl", tmp_path / "out"
    assert run("crop", photo_dir, "--manifest", manifest, "-o", out, "-q").exit_code == 0
    crop_mode = stat.S_IMODE(next(out.rglob("*.jpg")).stat().st_mode)
    assert stat.S_IMODE(manifest.stat().st_mode) == crop_mode == default_file_mode()


def test_a_missing_folder_is_one_error(use_random_weights, tmp_path):
    result = run("crop", tmp_path / "nope", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert [
        line for line in result.stderr.splitlines() if line.startswith(("error", "warning"))
    ] == [f"error: {tmp_path / 'nope'}: no such file or folder"]


def test_a_whole_photo_crop_is_the_original_file(tmp_path, monkeypatch):
    monkeypatch.delenv("SACROP_WEIGHTS", raising=False)  # the shipped weights keep all of it
    src = writable_copy(EXAMPLES / "picos-de-europa.jpg", tmp_path / "picos.jpg")  # 1600 x 1200
    assert run("crop", src, "-r", "4:3", "-o", tmp_path / "out", "-q").exit_code == 0
    assert (tmp_path / "out" / "picos.4x3.1.jpg").read_bytes() == src.read_bytes()


@pytest.mark.slow
def test_precision_int8_crops_end_to_end_close_to_fp32(tmp_path, monkeypatch):
    """``--precision int8`` runs the shipped int8 graph through a whole run: every crop written
    and of its ratio, each near the float graph's choice (IoU >= 0.75 on these photos), and
    scored by another graph than fp32 (the scores differ)."""
    monkeypatch.delenv("SACROP_WEIGHTS", raising=False)
    photos = [EXAMPLES / name for name in ("coffee.jpg", "wine.jpg", "rocket.jpg", "sunset.jpg")]
    crops = {}
    for precision in ("fp32", "int8"):
        out, manifest = tmp_path / precision, tmp_path / f"{precision}.jsonl"
        result = run(
            "crop", *photos, "-r", "4:3", "-r", "1:1", "--precision", precision, "-o", out,
            "--manifest", manifest, "-q",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        crops[precision] = {
            (Path(r["source"]).name, c["ratio"]): c
            for r in read_jsonl(manifest)
            for c in r["crops"]
        }
        assert len(crops[precision]) == 8 and len(list(out.iterdir())) == 8
    for key, crop in crops["int8"].items():
        x1, y1, x2, y2 = crop["box"]
        with Image.open(crop["path"]) as written:
            assert written.size == (x2 - x1, y2 - y1)
        rw, rh = (4, 3) if key[1] == "4:3" else (1, 1)
        assert abs((y2 - y1) - (x2 - x1) * rh / rw) <= 0.5  # the ratio to the nearest pixel
        assert box_iou(crop["box"], crops["fp32"][key]["box"]) >= 0.75
    assert [c["score"] for c in crops["int8"].values()] != [
        c["score"] for c in crops["fp32"].values()
    ]


def test_decimal_ratios_are_exact_to_the_pixel(use_random_weights, photo_dir, tmp_path):
    result = run(
        "crop",
        photo_dir / "coffee.jpg",
        "-r",
        "1.91:1",
        "-r",
        "1.5",
        "-o",
        tmp_path / "out",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    crops = json.loads(result.stdout)["crops"]
    assert [c["ratio"] for c in crops] == ["1.91:1", "1.5:1"]
    assert [Path(c["path"]).name for c in crops] == ["coffee.1.91x1.1.jpg", "coffee.1.5x1.1.jpg"]
    for c, (rw, rh) in zip(crops, ((191, 100), (3, 2))):
        x1, y1, x2, y2 = c["box"]
        assert abs((y2 - y1) * rw - (x2 - x1) * rh) <= max(rw, rh) / 2  # to the nearest pixel


def test_orient_auto_names_the_turned_ratio(use_random_weights, tmp_path):
    src = writable_copy(EXAMPLES / "wine.jpg", tmp_path / "wine.jpg")  # portrait, 1068 x 1600
    result = run("crop", src, "-r", "4:3", "--orient", "auto", "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.stderr
    [crop] = json.loads(result.stdout)["crops"]
    assert (crop["ratio"], Path(crop["path"]).name) == ("3:4", "wine.3x4.1.jpg")
    with Image.open(crop["path"]) as im:
        assert_exact_ratio(im.size, 3, 4)


# -- faces -------------------------------------------------------------------------------------


def test_faces_are_in_the_manifest_and_no_faces_turns_them_off(use_random_weights, tmp_path):
    from sacrop_cli.constraints import heads, inside

    src = writable_copy(EXAMPLES / "astronaut.jpg", tmp_path / "in" / "astronaut.jpg")
    manifest = tmp_path / "m.jsonl"
    ratios = ["-r", "16:9", "-r", "9:16", "-r", "1:1"]
    assert run("crop", src, *ratios, "-k", "2", "--dry-run", "--manifest", manifest).exit_code == 0
    [record] = read_jsonl(manifest)
    [face] = record["faces"]  # 512 x 512: her face, about (179, 64, 268, 175)
    assert face[:4] == pytest.approx([180, 67, 269, 175], abs=3) and face[4] > 0.9
    head = heads([face[:4]], 512, 512)
    for crop in record["crops"]:  # random weights: only the faces keep these crops sensible
        assert crop["note"] is None
        assert inside([crop["box"]], head)[0, 0] >= 0.95
    assert (
        run("crop", src, *ratios, "--dry-run", "--no-faces", "--manifest", manifest).exit_code == 0
    )
    [record] = read_jsonl(manifest)
    assert record["faces"] is None and all(c["note"] is None for c in record["crops"])
    assert any(inside([c["box"]], head)[0, 0] < 0.95 for c in record["crops"])  # some cut it


# -- RAW photos, XMP sidecars, pipes (the default shipped weights: crops that mean something) --


def foreign_sidecar(path: Path) -> bytes:
    """A sidecar another tool wrote: a rating, keywords and a develop setting."""
    path.write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" '
        'xmp:Rating="4" crs:Exposure2012="+0.35">'
        "<dc:subject><rdf:Bag><rdf:li>alps</rdf:li><rdf:li>coffee</rdf:li></rdf:Bag></dc:subject>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    return path.read_bytes()


@pytest.fixture
def raw_folder(tmp_path: Path) -> Path:
    """coffee.jpg, the DNG made from it (stored turned: EXIF orientation 6) and a cat."""
    folder = tmp_path / "shoot"
    folder.mkdir()
    writable_copy(EXAMPLES / "coffee.jpg", folder / "coffee.jpg")
    writable_copy(EXAMPLES / "chelsea-cat.jpg", folder / "cat.jpg")
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        make_dng(folder / "coffee.dng", im.convert("RGB"), orientation=6)
    return folder


def test_a_dng_is_cropped_like_its_jpeg_into_a_jpeg_with_its_exif(raw_folder, tmp_path):
    out, manifest = tmp_path / "out", tmp_path / "m.jsonl"
    result = run("crop", raw_folder, "-r", "4:3", "-o", out, "--manifest", manifest)
    assert result.exit_code == 0, result.stderr
    records = {Path(r["source"]).name: r for r in read_jsonl(manifest)}
    dng, jpg = records["coffee.dng"], records["coffee.jpg"]
    assert (dng["width"], dng["height"]) == (jpg["width"], jpg["height"]) == (600, 400)
    assert box_iou(dng["crops"][0]["box"], jpg["crops"][0]["box"]) >= 0.8
    # both crops are JPEGs named coffee...: the DNG comes first, the JPEG gets "-2"
    assert dng["crops"][0]["path"] == str(out / "coffee.4x3.1.jpg")
    assert jpg["crops"][0]["path"] == str(out / "coffee-2.4x3.1.jpg")
    x1, y1, x2, y2 = dng["crops"][0]["box"]
    with Image.open(out / "coffee.4x3.1.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (x2 - x1, y2 - y1))
        exif = piexif.load(im.info["exif"])
    assert exif["0th"][piexif.ImageIFD.Model] == DNG_MODEL.encode()
    assert exif["0th"][piexif.ImageIFD.Orientation] == 1
    assert exif["Exif"][piexif.ExifIFD.PixelXDimension] == x2 - x1


@pytest.mark.slow
def test_xmp_only_beside_the_photos_writes_sidecars_and_nothing_else(raw_folder, tmp_path):
    kept = foreign_sidecar(raw_folder / "coffee.xmp")  # the DNG's, from an editor
    before = {name: sha256(raw_folder / name) for name in files_under(raw_folder)}
    manifest = tmp_path / "m.jsonl"
    args = ("crop", raw_folder, "-r", "4:3", "-r", "1:1", "-k", "2", "-o", raw_folder)
    result = run(*args, "--xmp-only", "--manifest", manifest)
    assert result.exit_code == 0, result.stderr
    assert files_under(raw_folder) == [
        "cat.jpg", "cat.xmp", "coffee-2.xmp", "coffee.dng", "coffee.jpg", "coffee.xmp",
    ]  # fmt: skip
    for name in ("cat.jpg", "coffee.dng", "coffee.jpg"):
        assert sha256(raw_folder / name) == before[name]
    records = {Path(r["source"]).name: r for r in read_jsonl(manifest)}
    for photo, sidecar in (("cat.jpg", "cat.xmp"), ("coffee.dng", "coffee.xmp")):
        record = records[photo]
        assert record["sidecar"] == str(raw_folder / sidecar)
        assert [c["status"] for c in record["crops"]] == ["sidecar"] * 4
        assert [c["path"] for c in record["crops"]] == [None] * 4
    w, h = records["coffee.dng"]["width"], records["coffee.dng"]["height"]
    x1, y1, x2, y2 = records["coffee.dng"]["crops"][0]["box"]
    # orientation 6: the stored pixels are the upright ones turned 90 degrees anticlockwise
    stored = {
        "CropLeft": y1 / h,
        "CropTop": 1 - x2 / w,
        "CropRight": y2 / h,
        "CropBottom": 1 - x1 / w,
    }
    tags = exiftool(raw_folder / "coffee.xmp")
    assert (tags["HasCrop"], tags["CropAngle"], tags["Rating"]) == (True, 0, 4)
    assert tags["Subject"] == ["alps", "coffee"]
    for name, value in stored.items():
        assert abs(tags[name] - value) <= 0.002, name
    assert len(tags["ImageRegion"]) == 4
    assert b'crs:Exposure2012="+0.35"' in (raw_folder / "coffee.xmp").read_bytes()
    assert kept != (raw_folder / "coffee.xmp").read_bytes()
    cat = records["cat.jpg"]
    cw, ch = cat["width"], cat["height"]
    tags = exiftool(raw_folder / "cat.xmp")
    for name, value in zip(
        ("CropLeft", "CropTop", "CropRight", "CropBottom"), cat["crops"][0]["box"]
    ):
        assert abs(tags[name] - value / (cw if name in ("CropLeft", "CropRight") else ch)) <= 0.002
    regions = tags["ImageRegion"]
    assert [r["RegionBoundary"]["RbX"] for r in regions] == [
        pytest.approx(c["box"][0] / cw, abs=1e-6) for c in cat["crops"]
    ]
    # a rerun updates the sidecars in place: still one region per crop
    assert run(*args, "--xmp-only").exit_code == 0
    assert len(exiftool(raw_folder / "coffee.xmp")["ImageRegion"]) == 4
    assert exiftool(raw_folder / "coffee.xmp")["Rating"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("xmp", [(), ("--xmp",)], ids=["crops", "crops-and-sidecars"])
def test_a_rerun_at_the_photos_folder_writes_nothing_new(raw_folder, xmp):
    args = ("crop", raw_folder, "-r", "4:3", "-r", "1:1", "-o", raw_folder, *xmp)
    first = run(*args)
    assert first.exit_code == 0, first.stderr
    crops = {"cat.1x1.1.jpg", "cat.4x3.1.jpg", "coffee.1x1.1.jpg", "coffee.4x3.1.jpg"}
    crops |= {"coffee-2.1x1.1.jpg", "coffee-2.4x3.1.jpg"}  # the JPEG of the DNG's stem
    sidecars = {"cat.xmp", "coffee.xmp", "coffee-2.xmp"} if xmp else set()
    photos = {"cat.jpg", "coffee.dng", "coffee.jpg"}
    assert set(files_under(raw_folder)) == photos | crops | sidecars
    before = snapshot(raw_folder)
    again = run(*args, "-v")
    assert again.exit_code == 0, again.stderr
    assert snapshot(raw_folder) == before  # the same files, bytes and times
    assert summary_count(again.stderr, "Photos already done" if not xmp else "Photos") == 3
    assert summary_count(again.stderr, "Skipped files (not images)") == 0
    for name in sorted(crops | sidecars):
        assert f"{raw_folder / name}: sacrop's own output (a crop or a sidecar), skipped" in (
            again.stderr
        )


def test_sidecars_named_in_full_as_digikam_and_darktable_name_theirs(raw_folder, tmp_path):
    out, manifest = tmp_path / "out", tmp_path / "m.jsonl"
    args = ("crop", raw_folder, "-r", "4:3", "-o", out, "--manifest", manifest)
    result = run(*args, "--xmp-only", "--xmp-name", "full")
    assert result.exit_code == 0, result.stderr
    # full names never collide: the JPEG and the DNG of one stem keep their own names
    assert files_under(out) == ["cat.jpg.xmp", "coffee.dng.xmp", "coffee.jpg.xmp"]
    records = {Path(r["source"]).name: r["sidecar"] for r in read_jsonl(manifest)}
    assert records["coffee.dng"] == str(out / "coffee.dng.xmp")
    assert exiftool(out / "coffee.dng.xmp")["Orientation"] == 6


def test_a_bad_raw_or_sidecar_is_one_error_line_and_the_batch_goes_on(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "broken.nef").write_bytes(b"\x00" * 5000)
    writable_copy(EXAMPLES / "coffee.jpg", folder / "coffee.jpg")
    writable_copy(EXAMPLES / "chelsea-cat.jpg", folder / "cat.jpg")
    (folder / "cat.xmp").write_bytes(b"not XMP at all")
    out = tmp_path / "out"
    shutil.copy(folder / "cat.xmp", out.mkdir() or out / "cat.xmp")
    result = run("crop", folder, "-r", "4:3", "-o", out, "--xmp")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {folder / 'broken.nef'}: not a RAW file LibRaw can read "
        "(Unsupported file format or not RAW file)",
        f"error: {folder / 'cat.jpg'}: {out / 'cat.xmp'}: not valid XMP: syntax error: line 1, "
        "column 0",
    ]
    assert (out / "cat.xmp").read_bytes() == b"not XMP at all"
    assert files_under(out) == ["cat.4x3.1.jpg", "cat.xmp", "coffee.4x3.1.jpg", "coffee.xmp"]


@pytest.mark.slow
def test_a_photo_through_stdin_and_stdout(tmp_path):
    photo = tmp_path / "coffee.jpg"
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        im.save(photo, quality=90, exif=exif_bytes())
    found = run("crop", photo, "-r", "4:3", "-r", "1:1", "--dry-run", "--json")
    box = json.loads(found.stdout)["crops"][0]["box"]
    result = run("crop", "-", "-r", "4:3", "-r", "1:1", "-o", "-", stdin=photo.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes[:2] == b"\xff\xd8" and b"Crops written to standard output" in (
        result.stderr_bytes
    )
    with Image.open(io.BytesIO(result.stdout_bytes)) as im:
        assert (im.format, im.size) == ("JPEG", (box[2] - box[0], box[3] - box[1]))
        assert piexif.load(im.info["exif"])["0th"][piexif.ImageIFD.Model] == b"EOS 5D Mark IV"
    png = run("crop", photo, "-r", "4:3", "-o", "-", "--format", "png")
    assert png.stdout_bytes[:8] == b"\x89PNG\r\n\x1a\n"
    # stdin to files, with the records on stdout
    out = tmp_path / "out"
    given = run("crop", "-", "-r", "4:3", "-o", out, "--json", stdin=photo.read_bytes())
    record = json.loads(given.stdout)
    assert (record["source"], record["crops"][0]["path"]) == ("-", str(out / "stdin.4x3.1.jpg"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-", "-o", "-", "--json"), "--json and --manifest - cannot go there too"),
        (("x.jpg", "-o", "-", "--manifest", "-"), "--json and --manifest - cannot go there too"),
        (("-", "x.jpg"), "- (a photo on standard input) must be the only PATH"),
        (("x.jpg", "-o", "-", "--xmp"), "--xmp cannot go with -o -"),
        (("-", "--preview", "s.html"), "--preview cannot go with -"),
        ((EXAMPLES, "-o", "-"), "-o - writes the crop of one photo: give one photo"),
    ],
)
def test_what_cannot_share_a_pipe_is_a_usage_error(args, message):
    result = run("crop", *args, stdin=b"")
    assert result.exit_code == 2 and message in result.stderr and result.stdout == ""


@pytest.mark.slow
def test_a_real_pipe_carries_only_the_crop(tmp_path):
    data = (EXAMPLES / "coffee.jpg").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "sacrop_cli", "crop", "-", "-r", "4:3", "-o", "-", "-v"],
        input=data,
        capture_output=True,
        cwd=REPO,
        check=True,
    )
    with Image.open(io.BytesIO(done.stdout)) as im:
        im.load()  # the whole output is one JPEG
        assert im.format == "JPEG" and im.height == 400
    assert b"-: 1 crop(s)" in done.stderr and not list(tmp_path.iterdir())


def test_a_crop_is_never_written_to_a_terminal(tmp_path):
    import pty

    terminal, other_end = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sacrop_cli", "crop", "-", "-r", "4:3", "-o", "-"],
            input=(EXAMPLES / "coffee.jpg").read_bytes(),
            stdout=other_end,
            stderr=subprocess.PIPE,
            cwd=REPO,
        )
    finally:
        os.close(other_end)
        os.close(terminal)
    assert done.returncode == 1
    assert done.stderr == (
        b"error: -o -: the crop is not written to a terminal; send standard output to a file "
        b"or a program (-o - > crop.jpg)\n"
    )


def test_a_raw_on_standard_input_says_raws_cannot_come_through_a_pipe(tmp_path):
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        dng = make_dng(tmp_path / "c.dng", im.convert("RGB"))
    result = run("crop", "-", "-r", "4:3", "-o", tmp_path / "out", stdin=dng.read_bytes())
    assert result.exit_code == 1
    assert (
        "error: -: a camera RAW cannot come through a pipe (sacrop knows RAWs by their file "
        "name's extension): give its file name\n"
    ) in result.stderr


def test_keep_and_a_hints_file_steer_the_crops(tmp_path, monkeypatch):
    from helpers import DistanceEngine

    from sacrop_cli.api import Cropper

    cropper = Cropper(engine=DistanceEngine((58, 50, 525, 361), 0.64))
    monkeypatch.setattr("sacrop_cli.api.ModelSpec.load", lambda spec: cropper)
    monkeypatch.chdir(tmp_path)
    for name in ("a.jpg", "b.jpg"):
        writable_copy(EXAMPLES / "coffee.jpg", tmp_path / name)
    hints = tmp_path / "hints.jsonl"
    hints.write_text(
        json.dumps({"source": "b.jpg", "avoid": [[0, 0, "30%", "30%"]]})
        + "\nnot json\n"
        + json.dumps({"source": "c.jpg", "focus": [1, 1]})
        + "\n"
    )
    result = run(
        "crop", "a.jpg", "b.jpg", "-r", "4:3", "-k", "2", "-n", "--json",
        "--keep", "400,100,590,200", "--hints", hints,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"warning: {hints}:2: not JSON" in result.output
    assert f"warning: {hints}:3: c.jpg is not one of the photos to crop; line ignored" in (
        result.output
    )
    records = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [[c["box"] for c in r["crops"]] for r in records] == [
        [[57, 0, 590, 400], [190, 67, 590, 367]],
        [[190, 56, 590, 356], [217, 0, 590, 280]],
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--keep", "1,2,3"], "a region is four numbers x1,y1,x2,y2"),
        (["--focus", "50%,101%"], "'101%': a percentage is at most 100%"),
    ],
)
def test_a_bad_hint_is_a_usage_error(args, message, photo_dir):
    result = run("crop", photo_dir, *args)
    assert result.exit_code == 2 and message in result.output


def test_background_fills_transparent_pixels_of_jpeg_crops(use_random_weights, tmp_path):
    pixels = np.zeros((120, 160, 4), np.uint8)
    pixels[..., 0] = 255  # red, all of it under alpha 0
    Image.fromarray(pixels, "RGBA").save(tmp_path / "clear.png")
    out = tmp_path / "out"
    white = run("crop", tmp_path / "clear.png", "-o", out / "w", "--format", "jpeg")
    black = run(
        "crop", tmp_path / "clear.png", "-o", out / "b", "--format", "jpeg", "--background", "#000"
    )
    assert white.exit_code == black.exit_code == 0
    with Image.open(out / "w" / "clear.any.1.jpg") as im:
        assert np.asarray(im).min() >= 253
    with Image.open(out / "b" / "clear.any.1.jpg") as im:
        assert np.asarray(im).max() <= 2
    bad = run("crop", tmp_path / "clear.png", "-o", out, "--background", "nocolour")
    assert bad.exit_code == 2 and "unknown colour 'nocolour'" in bad.stderr


def test_links_up_the_tree_warn_and_hidden_entries_show_at_v(use_random_weights, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(EXAMPLES / "coffee.jpg", photos / "coffee.jpg")
    shutil.copy(EXAMPLES / "coffee.jpg", tmp_path / "unrelated.jpg")
    (photos / ".DS_Store").write_bytes(b"x")
    os.symlink("..", photos / "loop")
    out = tmp_path / "out"
    quiet = run("crop", photos, photos / "coffee.jpg", "-o", out, "-q")
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    assert sorted(p.name for p in out.rglob("*.jpg")) == ["coffee.any.1.jpg"]  # once
    shown = run("crop", photos, "-o", out, "-v")
    assert f"{photos / 'loop'}: skipped: a link to {tmp_path}, a folder that contains it" in (
        shown.stderr
    )
    assert f"{photos / '.DS_Store'}: hidden, skipped" in shown.stderr


def test_a_sidecar_nested_too_deep_fails_its_photo_alone(tmp_path):
    """Issue 32, item 4: the later photos get their sidecars and the manifest is written."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    out.mkdir()
    for name in ("a.jpg", "b.jpg"):
        writable_copy(EXAMPLES / "coffee.jpg", photos / name)
    deep = "<a>" * 1000 + "</a>" * 1000
    (out / "a.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22'
        f'-rdf-syntax-ns#"><rdf:Description rdf:about="">{deep}</rdf:Description></rdf:RDF>'
        "</x:xmpmeta>"
    )
    manifest = tmp_path / "m.jsonl"
    result = run("crop", photos, "-r", "4:3", "-o", out, "--xmp-only", "--manifest", manifest)
    assert result.exit_code == 1
    message = f"{photos / 'a.jpg'}: {out / 'a.xmp'}: not used: elements nested more than 100 deep"
    assert f"error: {message}\n" in result.stderr
    a, b = read_jsonl(manifest)
    assert (a["status"], b["status"], b["sidecar"]) == ("error", "ok", str(out / "b.xmp"))
    assert (out / "b.xmp").is_file()
