"""Safe on real processes (slow): `sacrop crop` in a subprocess killed with SIGKILL or
stopped with SIGINT, then rerun to the uninterrupted result; and a double Ctrl-C that must
always exit 130. The random (seeded) model gives arbitrary boxes: these tests check mechanics.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import EXAMPLES, REPO, files_under, leftovers, small_photos, snapshot
from PIL import Image

CROP_ARGS = ("-r", "4:3", "-r", "1:1", "-k", "2", "--batch-size", "1")


def pixel_tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (hidden ones too) -> hash of its decoded pixels."""
    tree = {}
    for name in files_under(root):
        with Image.open(root / name) as im:
            tree[name] = hashlib.sha256(f"{im.mode}{im.size}".encode() + im.tobytes()).hexdigest()
    return tree


@pytest.fixture(scope="module")
def batch(random_weights, tmp_path_factory):
    """12 small photos, the command that crops them, and the tree an uninterrupted run makes."""
    root = tmp_path_factory.mktemp("batch")
    src = root / "photos"
    small_photos(src, 12, (320, 240))
    env = {
        **os.environ,
        "SACROP_WEIGHTS": str(random_weights),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
    }

    def command(out: Path, *extra: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sacrop_cli",
            "crop",
            str(src),
            "-o",
            str(out),
            *CROP_ARGS,
            *extra,
        ]

    reference = root / "reference"
    subprocess.run(command(reference), env=env, cwd=REPO, check=True, capture_output=True)
    tree = pixel_tree(reference)
    assert len(tree) == 12 * 4
    return command, env, tree, snapshot(src), src


def start_and_wait_for_first_crop(command: list[str], env: dict, out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(not p.name.startswith(".") for p in out.iterdir())):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no crop appeared"
        time.sleep(0.01)
    return proc


@pytest.mark.slow
def test_sigkill_then_rerun_gives_the_uninterrupted_result(batch, tmp_path):
    command, env, reference, sources, src = batch
    out = tmp_path / "out"
    proc = start_and_wait_for_first_crop(command(out), env, out)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    partial = [n for n in files_under(out) if not n.startswith(".")]
    assert 0 < len(partial) < len(reference)  # really killed mid-batch
    missing = sorted(set(reference) - set(partial))[0]
    (out / f".{missing}.k1ll3d00.tmp").write_bytes(b"what a kill mid-write leaves")

    rerun = subprocess.run(command(out), env=env, cwd=REPO, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert pixel_tree(out) == reference  # names and pixels, and nothing else
    assert snapshot(src) == sources


@pytest.mark.slow
def test_sigint_stops_after_the_current_photo_then_resume(batch, tmp_path):
    command, env, reference, sources, src = batch
    out, manifest = tmp_path / "out", tmp_path / "m.jsonl"
    proc = start_and_wait_for_first_crop(command(out, "--manifest", str(manifest)), env, out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted: finishing the current photo" in stderr
    assert leftovers(out) == []
    written = files_under(out)
    assert 0 < len(written) < len(reference)
    stems = {name.split(".")[0] for name in written}
    assert len(written) == 4 * len(stems)  # whole photos only: each with all its crops
    # the photos in flight finished: the manifest and the summary list exactly these files
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    listed = [c["path"] for r in records for c in r["crops"] if c["status"] == "written"]
    assert sorted(Path(p).relative_to(out).as_posix() for p in listed) == written
    assert pixel_tree(out) == {n: reference[n] for n in written}  # each whole
    not_processed = re.search(r"Not processed \(interrupted\)\s+(\d+)", stderr)
    assert not_processed and int(not_processed[1]) == 12 - len(records)

    rerun = subprocess.run(
        command(out, "--resume"), env=env, cwd=REPO, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert pixel_tree(out) == reference
    assert snapshot(src) == sources


#: Run in the process below: ``sacrop ARGS...`` whose second network pass, in a worker thread,
#: says so through the FIFO ``BUSY`` and then waits (with every later pass) until the test
#: writes to the FIFO ``RELEASE``, so the test knows the run is waiting for it.
_HELD_PASS = """
import sys, threading
from sacrop_cli.engines import onnx_engine
from sacrop_cli.cli.main import main

busy, release, *args = sys.argv[1:]
lock, released, calls = threading.Lock(), threading.Event(), []
original = onnx_engine.OnnxEngine.scores

def scores(self, *a, **k):
    with lock:
        calls.append(None)
        n = len(calls)
    if n == 2:
        with open(busy, "w") as fifo:
            fifo.write("busy")
        with open(release) as fifo:
            fifo.read()
        released.set()
    elif n > 2:
        released.wait()
    return original(self, *a, **k)

onnx_engine.OnnxEngine.scores = scores
sys.argv = ["sacrop", *args]
main()
"""


def _read_fifo(path: Path, timeout: float = 120) -> str:
    """What a writer puts in the FIFO ``path``; a hang guard of ``timeout`` seconds, no more."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        chunks = []
        while True:
            ready, _, _ = select.select([fd], [], [], timeout)
            assert ready, f"nothing came through {path}"
            chunk = os.read(fd, 64)
            if not chunk and chunks:
                return b"".join(chunks).decode()
            chunks.append(chunk)
    finally:
        os.close(fd)


@pytest.mark.slow
def test_double_ctrl_c_while_a_network_pass_runs_exits_130(random_weights, tmp_path):
    """The second Ctrl-C lands while the run waits for a network pass under way in a worker
    thread (held there until the test lets it go); the process must wait for it and exit 130
    (it died with 134 from the C++ runtime underneath when it did not)."""
    src = tmp_path / "photos"
    src.mkdir()
    for i in range(8):
        shutil.copy(EXAMPLES / "friends.jpg", src / f"{i:02d}.jpg")
    busy, release = tmp_path / "busy", tmp_path / "release"
    os.mkfifo(busy)
    os.mkfifo(release)
    env = {**os.environ, "SACROP_WEIGHTS": str(random_weights), "PYTHONPATH": str(REPO)}
    args = ["crop", str(src), "-r", "4:3", "-r", "1:1", "--dry-run", "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _HELD_PASS, str(busy), str(release), *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _read_fifo(busy) == "busy"  # a network pass is held in its worker thread
        proc.send_signal(signal.SIGINT)
        for line in proc.stderr:  # the first Ctrl-C is taken: the run finishes the photo
            if line.startswith("warning: interrupted: finishing the current photo"):
                break
        proc.send_signal(signal.SIGINT)  # the second, while the run waits for the pass
        with open(release, "w") as fifo:
            fifo.write("go")
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "terminate called" not in stderr
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary
