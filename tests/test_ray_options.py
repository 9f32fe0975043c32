"""``sacrop crop``'s --files-from and --ray options, as far as they go without Ray."""

from __future__ import annotations

import pytest
from helpers import read_jsonl, run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ray-workers", "2"], "--ray-workers and --ray-gpus go with --ray"),
        (["--ray-gpus", "1"], "--ray-workers and --ray-gpus go with --ray"),
        (["-o", "s3://bucket/crops"], "s3://bucket/crops: URIs are read and written with --ray"),
    ],
)
def test_what_only_ray_does_is_a_usage_error_without_it(photo_dir, args, message):
    result = run("crop", photo_dir, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_uri_to_crop_needs_ray_and_something_to_crop_is_needed(tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_text("gs://bucket/a.jpg\n")
    result = run("crop", "--files-from", listed)
    assert result.exit_code == 2
    assert "gs://bucket/a.jpg: URIs are read and written with --ray only" in result.stderr
    nothing = run("crop")
    assert nothing.exit_code == 2
    assert "name photos or folders to crop (PATH...), or --files-from FILE" in nothing.stderr


def test_files_from_lists_photos_after_those_given(use_random_weights, photo_dir, tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_text(f"{photo_dir / 'sub' / 'rocket.jpg'}\n\n  {photo_dir / 'coffee.jpg'}  \n")
    manifest = tmp_path / "m.jsonl"
    result = run(
        "crop",
        photo_dir / "chelsea-cat.jpg",
        "--files-from",
        listed,
        "-r",
        "4:3",
        "-o",
        tmp_path / "out",
        "--manifest",
        manifest,
    )
    assert result.exit_code == 0, result.stderr
    assert [r["source"] for r in read_jsonl(manifest)] == [
        str(photo_dir / n) for n in ("chelsea-cat.jpg", "sub/rocket.jpg", "coffee.jpg")
    ]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "chelsea-cat.4x3.1.jpg",
        "coffee.4x3.1.jpg",
        "rocket.4x3.1.jpg",
    ]
