"""``sacrop crop --ray`` and ``crop_dataset``: the local run's promises, on a local Ray.

The tests share one local Ray with 2 CPUs (starting one takes seconds); the CLI then uses it
as it is, whatever ``--ray`` says.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import EXAMPLES, REPO, read_jsonl, run


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()


def tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` by its relative path."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def without_out_dir(records: list[dict], out: Path) -> list[dict]:
    """The records with each crop's path relative to its output folder."""
    text = json.dumps(records).replace(f"{out}/", "<out>/").replace(f"file://{out}/", "<out>/")
    return json.loads(text)


@pytest.mark.slow
def test_a_folder_on_ray_gives_the_local_run_and_a_rerun_writes_nothing(
    local_ray, use_random_weights, photo_dir, tmp_path
):
    (photo_dir / "broken.jpg").write_text("not a photo")
    (photo_dir / "notes.txt").write_text("shot list")
    args = ("crop", photo_dir, "-r", "4:3", "-r", "1:1", "-k", "2", "--batch-size", "2")
    local = run(*args, "-o", tmp_path / "local", "--manifest", tmp_path / "local.jsonl")
    on_ray = run(
        *args, "-o", tmp_path / "ray", "--manifest", tmp_path / "ray.jsonl", "--ray", "local"
    )

    assert (local.exit_code, on_ray.exit_code) == (1, 1)
    assert f"error: {photo_dir / 'broken.jpg'}: cannot identify image file" in on_ray.stderr
    records = read_jsonl(tmp_path / "ray.jsonl")
    assert without_out_dir(records, tmp_path / "ray") == without_out_dir(
        read_jsonl(tmp_path / "local.jsonl"), tmp_path / "local"
    )
    assert [Path(r["source"]).name for r in records] == [
        "notes.txt",
        "broken.jpg",
        "chelsea-cat.jpg",
        "coffee.jpg",
        "rocket.jpg",
    ]
    written = tree(tmp_path / "ray")
    assert len(written) == 12 and "sub/rocket.1x1.2.jpg" in written
    assert written == tree(tmp_path / "local")  # the same bytes: pixels, EXIF and ICC

    # the rerun reads no done photo; its records come from the previous manifest
    again = run(
        *args, "-o", tmp_path / "ray", "--manifest", tmp_path / "ray.jsonl", "--ray", "local"
    )
    assert again.exit_code == 1
    assert tree(tmp_path / "ray") == written
    statuses = [c["status"] for r in read_jsonl(tmp_path / "ray.jsonl") for c in r["crops"]]
    assert statuses == ["exists"] * 12
    assert [r["source"] for r in read_jsonl(tmp_path / "ray.jsonl")] == [
        r["source"] for r in records
    ]
    assert re.search(r"Crops written to .*\b0\s*$", again.stderr, re.MULTILINE)
    assert re.search(r"Photos already done .*\b3\s*$", again.stderr, re.MULTILINE)


@pytest.mark.slow
def test_uris_and_a_list_of_photos_in_and_out(local_ray, use_random_weights, photo_dir, tmp_path):
    listed = tmp_path / "list.txt"
    listed.write_text(f"{photo_dir / 'coffee.jpg'}\n\nfile://{tmp_path / 'missing.jpg'}\n")
    out = tmp_path / "out"
    result = run(
        "crop",
        f"file://{photo_dir}/sub",
        "--files-from",
        listed,
        "-r",
        "4:3",
        "-o",
        f"file://{out}",
        "--manifest",
        tmp_path / "m.jsonl",
        "--ray",
        "local",
    )
    assert result.exit_code == 1
    records = read_jsonl(tmp_path / "m.jsonl")
    assert [(r["source"], r["status"]) for r in records] == [
        (f"file://{tmp_path / 'missing.jpg'}", "error"),
        (str(photo_dir / "coffee.jpg"), "ok"),
        (f"file://{photo_dir}/sub/rocket.jpg", "ok"),
    ]
    assert [c["path"] for r in records for c in r["crops"]] == [
        f"file://{out}/coffee.4x3.1.jpg",
        f"file://{out}/rocket.4x3.1.jpg",
    ]
    assert sorted(tree(out)) == ["coffee.4x3.1.jpg", "rocket.4x3.1.jpg"]


@pytest.mark.slow
def test_crop_dataset_takes_a_dataset_of_bytes(local_ray, random_weights, photo_dir, tmp_path):
    from sacrop_cli.api import Cropper, ModelSpec
    from sacrop_cli.run.job import CropJob
    from sacrop_cli.run.ray_runner import crop_dataset

    ds = local_ray.data.read_binary_files(str(photo_dir), include_paths=True)
    job = CropJob(ratios=("4:3",), out_dir=tmp_path / "out")
    model = ModelSpec(weights=str(random_weights))
    records = crop_dataset(ds, job, root=str(photo_dir), model=model).take_all()

    cropper = Cropper(random_weights, device="cpu")
    by_name = {Path(r["source"]).name: r for r in records}
    assert sorted(by_name) == ["chelsea-cat.jpg", "coffee.jpg", "rocket.jpg"]
    for name, record in by_name.items():
        (want,) = cropper.crop(next(photo_dir.rglob(name)), "4:3")
        assert record["status"] == "ok" and record["warnings"] == [] and record["stop"] is None
        assert [(c["box"], c["score"], c["status"]) for c in record["crops"]] == [
            (list(want.box), round(want.score, 4), "written")
        ]
    assert sorted(tree(tmp_path / "out")) == [
        "chelsea-cat.4x3.1.jpg",
        "coffee.4x3.1.jpg",
        "sub/rocket.4x3.1.jpg",
    ]


@pytest.mark.slow
def test_a_stop_ends_the_run_with_what_is_done(local_ray, random_weights, tmp_path):
    from sacrop_cli.api import ModelSpec
    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.run.job import CropJob
    from sacrop_cli.run.ray_runner import run_on_ray

    src = tmp_path / "in"
    src.mkdir()
    for i in range(12):
        (src / f"p{i:02d}.jpg").write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    model = {"model": ModelSpec(str(random_weights), device="cpu")}
    seen = []
    report = run_on_ray(
        "local",
        scan_inputs([src]),
        CropJob(ratios=("4:3",), out_dir=tmp_path / "out", batch_size=1),
        **model,
        workers=1,
        on_progress=lambda record, warnings: seen.append(record["source"]),
        should_stop=lambda: bool(seen),
    )
    assert report.stopped == "interrupted"
    done = report.counts["images"]
    assert 1 <= done < 12 and report.counts["not_processed"] == 12 - done
    assert len(seen) == done and seen == sorted(seen)  # in input order
    # every photo reported has its crop; a batch under way may have written one more
    written = tree(tmp_path / "out")
    assert {f"{Path(s).stem}.4x3.1.jpg" for s in seen} <= set(written)

    again = run_on_ray(
        "local", scan_inputs([src]), CropJob(("4:3",), out_dir=tmp_path / "out"), **model
    )
    assert again.stopped is None and again.counts["not_processed"] == 0
    # exactly the photos whose crop is there are not read again, the others are
    assert again.counts["already_done"] == len(written)
    assert again.counts["images"] == 12 - len(written)
    assert sorted(tree(tmp_path / "out")) == [f"p{i:02d}.4x3.1.jpg" for i in range(12)]


@pytest.mark.slow
def test_an_output_that_is_a_source_photo_is_refused(local_ray, use_random_weights, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "x.jpg").write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    victim = src / "x.4x3.1.jpg"
    victim.write_bytes((EXAMPLES / "rocket.jpg").read_bytes())
    before = victim.read_bytes()
    result = run(
        "crop", src / "x.jpg", victim, "-r", "4:3", "-o", src, "--overwrite", "--ray", "local"
    )
    assert result.exit_code == 1
    assert f"{victim}: refusing to overwrite a source photo" in result.stderr
    assert victim.read_bytes() == before
    assert not (src / "x.4x3.1.4x3.1.jpg").exists()  # named as x's crop: never cropped again


def test_without_ray_installed_ray_says_what_to_install(
    use_random_weights, photo_dir, tmp_path, monkeypatch
):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = run("crop", photo_dir, "-o", tmp_path / "out", "--ray", "local")
    assert result.exit_code == 1
    assert result.stderr == (
        'error: --ray needs Ray, which is not installed: pip install "sacrop[ray]"\n'
    )
    assert not (tmp_path / "out").exists()


def test_a_local_run_imports_nothing_of_ray(random_weights, photo_dir, tmp_path):
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from sacrop_cli.cli.main import main\n"
        f"r = CliRunner().invoke(main, ['crop', {str(photo_dir)!r}, '-r', '4:3', "
        f"'-o', {str(tmp_path / 'out')!r}, '--weights', {str(random_weights)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pyarrow'))\n"
        "assert not heavy, f'imported: {heavy[:5]}'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    assert len(list((tmp_path / "out").rglob("*.jpg"))) == 3


@pytest.mark.slow
def test_ctrl_c_stops_a_ray_run_and_a_rerun_finishes(random_weights, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i in range(40):
        (src / f"p{i:02d}.jpg").write_bytes((EXAMPLES / "coffee.jpg").read_bytes())
    command = [
        *(sys.executable, "-m", "sacrop_cli", "crop", src, "-r", "4:3", "-o", out),
        *("--weights", random_weights, "--batch-size", "1", "--ray", "local", "--ray-workers", "1"),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(  # a session of its own: Ctrl-C reaches the whole group
        [str(a) for a in command],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(out.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out.is_dir() and any(out.iterdir()), "no crop written: the run never got going"
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted: finishing the current photo" in stderr
    not_processed = re.search(r"Not processed \(interrupted\)\s+(\d+)", stderr)
    assert not_processed and 0 < int(not_processed.group(1)) < 40, stderr
    assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary file

    again = subprocess.run(
        [str(a) for a in command],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == [f"p{i:02d}.4x3.1.jpg" for i in range(40)]
    assert "core_worker" not in stderr + again.stderr  # Ray's own log lines: only at -vv


@pytest.mark.slow
def test_a_wrong_address_fails_naming_it(random_weights, photo_dir, tmp_path):
    command = [sys.executable, "-m", "sacrop_cli", "crop", photo_dir, "-o", tmp_path / "out"]
    done = subprocess.run(
        [str(a) for a in [*command, "--weights", random_weights, "--ray", "127.0.0.1:1"]],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,  # a guard against a hang, not a measure: speed belongs to benchmarks/
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        "error: --ray 127.0.0.1:1: cannot connect: nothing answers there (Connection refused)\n"
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
