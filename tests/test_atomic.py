"""Files written whole or not at all."""

from __future__ import annotations

import errno
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


def test_a_file_that_appears_while_writing_is_never_overwritten(tmp_path: Path) -> None:
    """The early existence check is not the guard: another writer may create the name while the
    content is being written. The publish step links (create if absent) and must refuse then
    (mutant: publishing with ``os.replace``, which clobbers)."""
    path = tmp_path / "a.txt"
    with pytest.raises(OutputError, match=f"^{path}: already exists \\(use --overwrite\\)$"):
        with atomic_open(path, "w", overwrite=False) as fh:
            fh.write("ours")
            path.write_text("theirs")
    assert path.read_text() == "theirs"
    assert os.listdir(tmp_path) == ["a.txt"]


def _no_hard_links(code: int):
    def link(src: object, dst: object) -> None:
        raise OSError(code, os.strerror(code))

    return link


def test_without_hard_links_the_name_is_claimed_then_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAT and some network shares refuse hard links: the name is claimed with O_EXCL, so a file
    appearing meanwhile is still kept, and a new name is written whole with the usual mode."""
    monkeypatch.setattr(os, "link", _no_hard_links(errno.EPERM))
    path = atomic_write(tmp_path / "a.bin", lambda fh: fh.write(b"abc"), overwrite=False)
    assert path.read_bytes() == b"abc"
    assert stat.S_IMODE(path.stat().st_mode) == default_file_mode()
    other = tmp_path / "b.txt"
    with pytest.raises(OutputError, match=f"^{other}: already exists \\(use --overwrite\\)$"):
        with atomic_open(other, "w", overwrite=False) as fh:
            fh.write("ours")
            other.write_text("theirs")
    assert other.read_text() == "theirs"
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "b.txt"]


def test_a_link_failing_for_another_reason_is_an_error_not_a_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "link", _no_hard_links(errno.EIO))
    path = tmp_path / "a.bin"
    with pytest.raises(OutputError, match=f"^{path}: cannot write: Input/output error$"):
        atomic_write(path, lambda fh: fh.write(b"abc"), overwrite=False)
    assert os.listdir(tmp_path) == []


def test_a_claimed_name_is_released_when_the_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "link", _no_hard_links(errno.ENOTSUP))

    def replace(src: object, dst: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "a.bin"
    with pytest.raises(OutputError, match=f"^{path}: cannot write: Input/output error$"):
        atomic_write(path, lambda fh: fh.write(b"abc"), overwrite=False)
    assert os.listdir(tmp_path) == []
