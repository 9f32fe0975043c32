"""Safe on real photo folders: writes that fail (a full disk, an unwritable or misplaced
output folder, what a killed run left) and Ctrl-C in process (the first finishes the current
photo, the second aborts at once), each without partial files. The random (seeded) model gives
arbitrary boxes: these tests check mechanics.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from helpers import (
    REPO,
    files_under,
    leftovers,
    read_jsonl,
    require_tool,
    run,
    small_photos,
    snapshot,
    summary_count,
)
from PIL import Image

from sacrop_cli.run import writers


def test_full_disk_stops_cleanly(use_random_weights, tmp_path, monkeypatch):
    src, out = tmp_path / "in", tmp_path / "out"
    small_photos(src, 3)
    before = snapshot(src)

    def disk_full(self, fp, *args, **kwargs):
        fp.write(b"half a JPEG")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    result = run("crop", src, "-r", "4:3", "-r", "1:1", "-o", out)
    assert result.exit_code == 1
    first = src / "p00.jpg"
    assert (
        f"error: {first}: {out / 'p00.4x3.1.jpg'}: cannot write: No space left on device\n"
        in result.stderr
    )
    # every later photo would fail the same way: the run stops instead of trying them all
    assert (
        "error: No space left on device: 2 photo(s) not processed; run the same command "
        "again to finish\n"
    ) in result.stderr
    assert summary_count(result.stderr, "Not processed (No space left on device)") == 2
    assert files_under(out) == []  # no partial file, not even a hidden one
    assert snapshot(src) == before


def _crop_bound_by_permissions(*args: object) -> tuple[int, str]:
    """``sacrop ARGS...``'s exit status and standard error, with file permissions applying:
    in process, or, for root (whom they do not stop), in a process whose capabilities to
    override them are dropped (``setpriv``, util-linux)."""
    if os.geteuid() != 0:
        result = run(*args)
        return result.exit_code, result.stderr
    setpriv = require_tool("setpriv", "apt-get install util-linux")
    done = subprocess.run(
        [
            *(setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner"),
            *(sys.executable, "-m", "sacrop_cli", *map(str, args)),
        ],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, done.stderr


def test_unwritable_output_folder(use_random_weights, tmp_path):
    src = tmp_path / "in"
    small_photos(src, 2)
    before = snapshot(src)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        status, stderr = _crop_bound_by_permissions("crop", src, "-o", locked / "crops")
        assert status == 1
        assert stderr.startswith(
            f"error: {locked / 'crops'}: cannot create the output folder: Permission denied\n"
        )
        assert not (locked / "crops").exists()
    finally:
        locked.chmod(0o700)
    assert snapshot(src) == before


def test_output_folder_that_is_a_file(use_random_weights, tmp_path):
    src = tmp_path / "in"
    small_photos(src, 2)
    before = snapshot(src)
    plain = tmp_path / "plain-file"
    plain.write_text("not a folder")

    inside = run("crop", src, "-o", plain / "crops", "-q")
    assert inside.exit_code == 1
    assert (
        inside.stderr == f"error: {plain / 'crops'}: cannot create the output folder: "
        "Not a directory\n"
    )  # once, not once per photo
    itself = run("crop", src, "-o", plain)
    assert itself.exit_code == 2 and "is a file" in itself.stderr
    assert plain.read_text() == "not a folder"
    manifest = run("crop", src, "-o", tmp_path / "out", "--manifest", plain / "m.jsonl", "-q")
    assert manifest.exit_code == 1
    assert manifest.stderr == (
        f"error: {plain / 'm.jsonl'}: cannot write the manifest: {plain} is a file\n"
    )
    for option, target in [("--preview", plain / "sheet.html"), ("--preview-dir", plain / "p")]:
        preview = run("crop", src, "-o", tmp_path / "out", option, target, "-q")
        assert preview.exit_code == 1
        assert preview.stderr.startswith(f"error: {target}: cannot write the preview: ")
        assert preview.stderr.count("\n") == 1
        assert files_under(tmp_path / "out") == []  # found before any crop is written
    assert snapshot(src) == before


def test_a_rerun_removes_what_a_killed_run_left(use_random_weights, tmp_path):
    src, out, manifest = tmp_path / "in", tmp_path / "out", tmp_path / "m.jsonl"
    small_photos(src, 2)
    assert run("crop", src, "-r", "4:3", "-o", out).exit_code == 0
    # Killed between the link and the unlink of p00's crop; killed mid-write of p01's; and
    # mid-write of the manifest. Files that are not ours stay.
    (out / ".p00.4x3.1.jpg.abc_1234.tmp").write_bytes(b"whole crop")
    (out / "p01.4x3.1.jpg").unlink()
    (out / ".p01.4x3.1.jpg.zz9xq0ab.tmp").write_bytes(b"half a crop")
    (tmp_path / ".m.jsonl.k2j4h5g6.tmp").write_text('{"source": ')
    keep = [out / ".p00.4x3.1.jpg.notes", out / ".other.jpg.abcdefgh.tmp"]
    for path in keep:
        path.write_text("someone else's")

    result = run("crop", src, "-r", "4:3", "-o", out, "--manifest", manifest)
    assert result.exit_code == 0
    assert files_under(out) == sorted(
        [".other.jpg.abcdefgh.tmp", ".p00.4x3.1.jpg.notes", "p00.4x3.1.jpg", "p01.4x3.1.jpg"]
    )
    # p00, done, is not read again (no previous manifest: its record says why)
    assert [r["status"] for r in read_jsonl(manifest)] == ["skipped", "ok"]
    assert read_jsonl(manifest)[1]["crops"][0]["status"] == "written"
    assert not list(tmp_path.glob(".m.jsonl.*"))


# -- Ctrl-C, in process ---------------------------------------------------------------------------


def test_first_ctrl_c_finishes_the_current_photo(use_random_weights, tmp_path, monkeypatch):
    src, out, manifest = tmp_path / "in", tmp_path / "out", tmp_path / "m.jsonl"
    small_photos(src, 5)
    save_photo = writers._save_photo

    def save_then_ctrl_c(record, *args, **kwargs):
        save_photo(record, *args, **kwargs)
        if record["source"].endswith("p01.jpg"):
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(writers, "_save_photo", save_then_ctrl_c)
    handler_before = signal.getsignal(signal.SIGINT)
    # a batch of 3: the stop comes between photos of one scored batch
    result = run(
        "crop",
        src,
        "-r",
        "4:3",
        "-r",
        "1:1",
        "-o",
        out,
        "--batch-size",
        "3",
        "--manifest",
        manifest,
    )
    assert signal.getsignal(signal.SIGINT) is handler_before
    assert result.exit_code == 130
    assert "warning: interrupted: finishing the current photo" in result.stderr
    assert summary_count(result.stderr, "Not processed (interrupted)") == 3
    assert (
        "warning: interrupted: 3 photo(s) not processed; run the same command again to finish"
    ) in result.stderr
    assert files_under(out) == [f"p0{i}.{r}.1.jpg" for i in (0, 1) for r in ("1x1", "4x3")]
    assert [Path(r["source"]).name for r in read_jsonl(manifest)] == ["p00.jpg", "p01.jpg"]

    monkeypatch.setattr(writers, "_save_photo", save_photo)
    again = run("crop", src, "-r", "4:3", "-r", "1:1", "-o", out, "--resume")
    assert again.exit_code == 0
    assert summary_count(again.stderr, "Already existing (kept)") == 4
    assert summary_count(again.stderr, "Crops written") == 6
    assert len(files_under(out)) == 10 and leftovers(out) == []


def test_second_ctrl_c_aborts_at_once_without_partial_files(
    use_random_weights, tmp_path, monkeypatch
):
    src, out = tmp_path / "in", tmp_path / "out"
    small_photos(src, 3)
    before = snapshot(src)
    real_save = Image.Image.save
    calls = []

    def save(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 4:  # in the middle of p01's second crop
            fp.write(b"the first half")
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    result = run("crop", src, "-r", "4:3", "-r", "1:1", "-o", out)
    assert result.exit_code == 130
    assert "error: aborted; the files written so far are complete, rerun to finish" in result.stderr
    assert files_under(out) == ["p00.1x1.1.jpg", "p00.4x3.1.jpg", "p01.4x3.1.jpg"]
    for name in files_under(out):
        with Image.open(out / name) as im:
            im.load()  # complete files
    assert snapshot(src) == before


def test_resume_is_the_default_spelled_out(use_random_weights, tmp_path):
    assert "--resume" in run("crop", "--help").output
    clash = run("crop", tmp_path, "--resume", "--overwrite")
    assert clash.exit_code == 2 and "--resume" in clash.stderr
