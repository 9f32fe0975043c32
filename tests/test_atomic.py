"""Files written whole or not at all."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sacrop_cli.errors import OutputError
from sacrop_cli.io.atomic import atomic_open, atomic_write, default_file_mode, stale_temp_files


def test_a_file_appears_whole_with_the_usual_mode(tmp_path: Path) -> None:
    path = atomic_write(tmp_path / "sub" / "a.bin", lambda fh: fh.write(b"abc"), durable=True)
    assert path.read_bytes() == b"abc"
    assert stat.S_IMODE(path.stat().st_mode) == default_file_mode()
    assert os.listdir(tmp_path / "sub") == ["a.bin"]


def test_a_failure_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(path, "w") as fh:
        fh.write("half")
        raise RuntimeError("stop")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_existing_files_are_kept_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("precious")
    with pytest.raises(OutputError, match=f"^{path}: already exists \\(use --overwrite\\)$"):
        atomic_write(path, lambda fh: fh.write(b"new"), overwrite=False)
    atomic_write(path, lambda fh: fh.write(b"new"))
    assert path.read_bytes() == b"new"


def test_an_unwritable_place_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match=f"^{blocker / 'a.txt'}: cannot write: "):
        atomic_write(blocker / "a.txt", lambda fh: fh.write(b"x"))


def test_stale_temp_files_of_killed_runs_by_final_name(tmp_path: Path) -> None:
    for name in (
        ".a.jpg.abcd1234.tmp",
        ".a.jpg.zz_z9999.tmp",
        ".b.png.00000000.tmp",
        "a.jpg",
        ".a.jpg.tmp",
    ):
        (tmp_path / name).write_bytes(b"")
    assert stale_temp_files(tmp_path) == {
        "a.jpg": [tmp_path / ".a.jpg.abcd1234.tmp", tmp_path / ".a.jpg.zz_z9999.tmp"],
        "b.png": [tmp_path / ".b.png.00000000.tmp"],
    }
    assert stale_temp_files(tmp_path / "missing") == {}
