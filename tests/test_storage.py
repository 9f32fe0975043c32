"""URIs through pyarrow's file systems, tried with ``file://`` URIs (the code path is the one
of ``s3://`` and ``gs://``, which tests cannot reach)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from helpers import EXAMPLES

from sacrop_cli.errors import OutputError, SacropError
from sacrop_cli.io.storage import (
    RemoteWriter,
    check_out_uri,
    download,
    is_uri,
    join,
    open_uri,
    scan_sources,
)


def test_uris_and_joins():
    assert [is_uri(n) for n in ("s3://b/k", "file:///x", "gs://b", "photos/a.jpg", "/a:b//c")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert is_uri(Path("s3://b/k")) is False  # pathlib already folded it: a local path
    assert join("s3://b/crops/", "sub/x") == "s3://b/crops/sub/x"
    assert join("s3://b/crops", ".") == "s3://b/crops"
    assert join(Path("crops"), ".") == "crops"
    assert join("crops", "sub") == "crops/sub"


def test_a_folder_uri_is_listed_as_a_folder_is_walked(tmp_path):
    root = tmp_path / "photos"
    (root / "a").mkdir(parents=True)
    for name in ("a.jpg", "a/b.jpg", "a/.hidden.jpg", "notes.txt", "c.PNG"):
        (root / name).write_bytes(b"x")
    given = (f"file://{root}", str(root / "c.PNG"), f"file://{tmp_path}/gone.jpg")
    scan = scan_sources(given)
    assert scan.images == [
        (root / "c.PNG", None),
        (f"file://{root}/a/b.jpg", f"file://{root}"),
        (f"file://{root}/a.jpg", f"file://{root}"),
        (f"file://{root}/c.PNG", f"file://{root}"),
    ]
    assert scan.skipped == [f"file://{root}/notes.txt"]
    assert scan.missing == [f"file://{tmp_path}/gone.jpg"]
    assert scan_sources([f"file://{root}"], recursive=False).images[0][0].endswith("/a.jpg")


def test_a_file_system_that_cannot_be_used_is_one_line(monkeypatch):
    with pytest.raises(SacropError, match=r"^nope://x: cannot open this file system: .+"):
        open_uri("nope://x")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(SacropError) as err:
        open_uri("s3://b/k")
    assert str(err.value) == 's3://b/k: URIs are read with pyarrow: pip install "sacrop[ray]"'


def test_download_copies_the_file(tmp_path):
    local = tmp_path / "coffee.jpg"
    download(f"file://{EXAMPLES / 'coffee.jpg'}", local)
    assert local.read_bytes() == (EXAMPLES / "coffee.jpg").read_bytes()
    with pytest.raises(OSError):
        download(f"file://{tmp_path}/gone.jpg", tmp_path / "gone.jpg")


def test_remote_writer_writes_whole_files_and_never_clobbers(tmp_path):
    from sacrop_cli.io.imageio import open_photo

    out = tmp_path / "out"
    check_out_uri(f"file://{out}/sub")
    assert (out / "sub").is_dir()
    (out / "sub" / ".x.jpg.0123abcd.tmp").write_bytes(b"left by a killed run")
    (out / "sub" / ".other.jpg.0123abcd.tmp").write_bytes(b"not ours to remove")
    writer = RemoteWriter(f"file://{out}", lambda uri: uri.endswith("source.jpg"))
    target = f"file://{out}/sub/x.jpg"
    writer.remove_stale_temps([target])
    assert sorted(p.name for p in (out / "sub").iterdir()) == [".other.jpg.0123abcd.tmp"]

    photo = open_photo(EXAMPLES / "coffee.jpg")
    assert not writer.exists(target)
    assert writer.save(photo, (0, 0, 300, 200), target, quality=90) == target
    assert writer.exists(target) and writer.is_source(f"file://{out}/source.jpg")
    written = (out / "sub" / "x.jpg").read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        writer.save(photo, (0, 0, 100, 100), target)
    assert (out / "sub" / "x.jpg").read_bytes() == written
    writer.save(photo, (0, 0, 100, 100), target, overwrite=True)
    assert (out / "sub" / "x.jpg").read_bytes() != written
    assert sorted(p.name for p in (out / "sub").iterdir()) == [".other.jpg.0123abcd.tmp", "x.jpg"]


def test_remote_writer_writes_a_prepared_crop_as_a_local_one(tmp_path):
    """The write workers prepare a crop, then the writer encodes it: the same bytes as a local
    file, and an existing one kept unless overwritten."""
    from sacrop_cli.io.encode import prepare_crop, write_crop
    from sacrop_cli.io.imageio import open_photo

    out = tmp_path / "out"
    out.mkdir()
    writer = RemoteWriter(f"file://{out}", lambda uri: False)
    photo = open_photo(EXAMPLES / "coffee.jpg")
    crop = prepare_crop(photo, (10, 20, 310, 245), "x.jpg", quality=90)
    target = f"file://{out}/x.jpg"
    assert writer.write(crop, target) == target
    local = write_crop(crop, tmp_path / "local.jpg")
    assert (out / "x.jpg").read_bytes() == local.read_bytes()
    with pytest.raises(OutputError, match="already exists"):
        writer.write(prepare_crop(photo, (0, 0, 100, 100), "x.jpg"), target)
    assert (out / "x.jpg").read_bytes() == local.read_bytes()
    writer.write(prepare_crop(photo, (0, 0, 100, 100), "x.jpg"), target, overwrite=True)
    assert (out / "x.jpg").read_bytes() != local.read_bytes()
    assert sorted(p.name for p in out.iterdir()) == ["x.jpg"]
