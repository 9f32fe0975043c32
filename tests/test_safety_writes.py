"""Safe on real photo folders: writes that fail (a full disk, an unwritable or misplaced
output folder, what a killed run left) and Ctrl-C in process (the first finishes the current
photo, the second aborts at once), each without partial files. The random (seeded) model gives
arbitrary boxes: these tests check mechanics.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
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
    monkeypatch.setattr(writers, "cpu_cores", lambda: 2)  # two photos written at once

    def disk_full(self, fp, *args, **kwargs):
        fp.write(b"half a JPEG")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", disk_full)
    result = run("crop", src, "-r", "4:3", "-r", "1:1", "-o", out)
    assert result.exit_code == 1
    # the photos under way when the disk filled fail (p00, and p01 when it had started), in
    # input order; no other starts: the run stops instead of trying them all
    failed = re.findall(r"^error: (.+?): (.+?): cannot write: (.+)$", result.stderr, re.M)
    assert failed[:1] == [(str(src / "p00.jpg"), str(out / "p00.4x3.1.jpg"), "No space left on device")]
    assert failed[1:] in ([], [(str(src / "p01.jpg"), str(out / "p01.4x3.1.jpg"), "No space left on device")])
    not_processed = 3 - len(failed)
    assert (
        f"error: No space left on device: {not_processed} photo(s) not processed; run the same "
        "command again to finish\n"
    ) in result.stderr
    assert summary_count(result.stderr, "Not processed (No space left on device)") == not_processed
    assert summary_count(result.stderr, "Errors") == len(failed)
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


def _spied_decoders(monkeypatch) -> list[writers.DecodeAhead]:
    """The write workers of the runs to come (two of them, as on a 2-core machine)."""
    monkeypatch.setattr(writers, "cpu_cores", lambda: 2)
    made = []
    start = writers.DecodeAhead.__init__

    def spied(self, *args, **kwargs):
        start(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(writers.DecodeAhead, "__init__", spied)
    return made


def _wait_for(condition) -> None:
    """Until ``condition()`` (the main thread has handled a Ctrl-C sent from a worker)."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the Ctrl-C was never handled"
        time.sleep(0.001)


def test_first_ctrl_c_finishes_the_photos_in_flight(use_random_weights, tmp_path, monkeypatch):
    """The promise: every crop file whole, the summary and the manifest list exactly the files
    that exist, a rerun finishes the rest. Ctrl-C comes once p01 is written; p02 may be under
    way on the other worker then (it finishes), no later photo starts."""
    src, out, manifest = tmp_path / "in", tmp_path / "out", tmp_path / "m.jsonl"
    small_photos(src, 6)
    decoders = _spied_decoders(monkeypatch)
    save_photo = writers._save_photo

    def halted() -> bool:
        return any(d.halted() for d in decoders)

    def save_then_ctrl_c(record, *args, **kwargs):
        name = Path(record["source"]).name
        if name not in ("p00.jpg", "p01.jpg"):
            _wait_for(halted)  # in flight when the Ctrl-C comes
        save_photo(record, *args, **kwargs)
        if name == "p01.jpg":
            os.kill(os.getpid(), signal.SIGINT)
            _wait_for(halted)

    monkeypatch.setattr(writers, "_save_photo", save_then_ctrl_c)
    handler_before = signal.getsignal(signal.SIGINT)
    # a batch of 3: the stop comes between photos of one scored batch
    result = run(
        "crop", src, "-r", "4:3", "-r", "1:1", "-o", out, "--batch-size", "3",
        "--manifest", manifest,
    )  # fmt: skip
    assert signal.getsignal(signal.SIGINT) is handler_before
    assert result.exit_code == 130, result.stderr
    assert "warning: interrupted: finishing the current photo" in result.stderr
    records = read_jsonl(manifest)
    done = [Path(r["source"]).name for r in records]
    assert done in (["p00.jpg", "p01.jpg"], ["p00.jpg", "p01.jpg", "p02.jpg"])
    listed = sorted(Path(c["path"]).name for r in records for c in r["crops"])
    assert [c["status"] for r in records for c in r["crops"]] == ["written"] * 2 * len(done)
    assert files_under(out) == listed  # exactly the files the manifest lists, nothing else
    for name in listed:
        with Image.open(out / name) as im:
            im.load()  # whole
    assert summary_count(result.stderr, "Crops written to") == len(listed)
    assert summary_count(result.stderr, "Not processed (interrupted)") == 6 - len(done)
    assert (
        f"warning: interrupted: {6 - len(done)} photo(s) not processed; run the same command "
        "again to finish"
    ) in result.stderr

    monkeypatch.setattr(writers, "_save_photo", save_photo)
    again = run("crop", src, "-r", "4:3", "-r", "1:1", "-o", out, "--resume")
    assert again.exit_code == 0
    assert summary_count(again.stderr, "Already existing (kept)") == len(listed)
    assert summary_count(again.stderr, "Crops written") == 12 - len(listed)
    assert len(files_under(out)) == 12 and leftovers(out) == []


def test_second_ctrl_c_aborts_at_once_without_partial_files(
    use_random_weights, tmp_path, monkeypatch
):
    """Both Ctrl-C during p01's second crop: no crop starts after that, and every file there
    is whole (the crops being written when it came finish)."""
    src, out = tmp_path / "in", tmp_path / "out"
    small_photos(src, 6)
    before = snapshot(src)
    decoders = _spied_decoders(monkeypatch)
    real_save = Image.Image.save
    calls = []

    def aborted() -> bool:
        return any(d.abort.is_set() for d in decoders)

    def save(self, fp, *args, **kwargs):
        calls.append(aborted())  # whether the abort came before this crop started
        if len(calls) == 4:  # one after the other: two signals at once count as one
            os.kill(os.getpid(), signal.SIGINT)
            _wait_for(lambda: any(d.halted() for d in decoders))
            os.kill(os.getpid(), signal.SIGINT)
        if len(calls) >= 4:
            _wait_for(aborted)  # under way when the abort comes
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    result = run("crop", src, "-r", "4:3", "-r", "1:1", "-o", out)
    assert result.exit_code == 130
    assert "error: aborted; the files written so far are complete, rerun to finish" in result.stderr
    assert True not in calls  # no crop started after the abort
    assert 4 <= len(files_under(out)) == len(calls) < 12
    for name in files_under(out):
        with Image.open(out / name) as im:
            im.load()  # complete files
    assert leftovers(out) == []
    assert snapshot(src) == before


def test_resume_is_the_default_spelled_out(use_random_weights, tmp_path):
    assert "--resume" in run("crop", "--help").output
    clash = run("crop", tmp_path, "--resume", "--overwrite")
    assert clash.exit_code == 2 and "--resume" in clash.stderr
