"""URIs through pyarrow's file systems: ``file://`` URIs, and ``s3://`` against moto's S3
server on 127.0.0.1 (the dev extra's ``moto[server]``)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import EXAMPLES, REPO, read_jsonl, require_module
from PIL import Image

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


# -- s3:// against moto's S3 server on 127.0.0.1 ------------------------------------------------


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server in a thread on a free local port, with a ``photos`` bucket holding
    ``in/coffee.jpg``, ``in/sub/rocket.jpg`` and ``in/notes.txt``; yields the query that
    points pyarrow at it (``endpoint_override=127.0.0.1:PORT&scheme=http``)."""
    require_module("pyarrow", 'pip install "sacrop[ray]"')
    server_module = require_module("moto.server", 'pip install "moto[server]" (the dev extra)')
    from pyarrow import fs

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as env:
        for key, value in S3_ENV.items():
            env.setenv(key, value)
        s3 = fs.S3FileSystem(
            endpoint_override=f"127.0.0.1:{port}", scheme="http", allow_bucket_creation=True
        )
        s3.create_dir("photos")
        for name, key in (("coffee.jpg", "in/coffee.jpg"), ("rocket.jpg", "in/sub/rocket.jpg")):
            with s3.open_output_stream(f"photos/{key}") as out:
                out.write((EXAMPLES / name).read_bytes())
        with s3.open_output_stream("photos/in/notes.txt") as out:
            out.write(b"shot list")
        yield f"endpoint_override=127.0.0.1:{port}&scheme=http", s3
    server.stop()


#: moto takes any credentials; pyarrow wants some, and must not ask the cloud's metadata service
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _objects(s3, prefix: str) -> dict[str, bytes]:
    from pyarrow import fs

    found = s3.get_file_info(fs.FileSelector(prefix, recursive=True, allow_not_found=True))
    out = {}
    for info in found:
        if info.type == fs.FileType.File:
            with s3.open_input_stream(info.path) as stream:
                out[info.path] = stream.read()
    return out


def test_uri_options_stay_with_the_file_system_not_the_object_names(
    s3_server, monkeypatch, tmp_path
):
    """``s3://photos/in?endpoint_override=...&scheme=http`` (how MinIO and Ceph users write it):
    the photos under it are plain object names, read and written through a file system with
    those options."""
    from sacrop_cli.io.imageio import open_photo

    query, s3 = s3_server
    for key, value in S3_ENV.items():
        monkeypatch.setenv(key, value)
    scan = scan_sources([f"s3://photos/in?{query}"])
    assert scan.images == [
        ("s3://photos/in/coffee.jpg", "s3://photos/in"),
        ("s3://photos/in/sub/rocket.jpg", "s3://photos/in"),
    ]
    assert scan.skipped == ["s3://photos/in/notes.txt"] and scan.missing == []
    assert join(f"s3://photos/out/?{query}", "sub") == "s3://photos/out/sub"
    assert scan_sources([f"s3://photos/nothing?{query}"]).missing == [
        f"s3://photos/nothing?{query}"
    ]

    download("s3://photos/in/coffee.jpg", tmp_path / "c.jpg")
    assert (tmp_path / "c.jpg").read_bytes() == (EXAMPLES / "coffee.jpg").read_bytes()
    check_out_uri(f"s3://photos/out?{query}")
    writer = RemoteWriter(f"s3://photos/out?{query}", lambda uri: False)
    target = join(f"s3://photos/out?{query}", "sub/c.jpg")
    assert target == "s3://photos/out/sub/c.jpg" and not writer.exists(target)
    writer.save(open_photo(EXAMPLES / "coffee.jpg"), (0, 0, 300, 200), target, quality=90)
    written = _objects(s3, "photos/out")
    assert list(written) == ["photos/out/sub/c.jpg"]  # no temporary object left
    assert writer.exists(target)
    with pytest.raises(OutputError, match="^s3://photos/out/sub/c.jpg: already exists"):
        writer.save(open_photo(EXAMPLES / "coffee.jpg"), (0, 0, 10, 10), target)
    s3.delete_dir_contents("photos/out")


@pytest.mark.slow
def test_crop_s3_in_and_out_on_ray_and_again(s3_server, random_weights, tmp_path):
    """``sacrop crop s3://photos/in?... -o s3://photos/out?... --ray local``: every crop written
    whole under plain names, the manifest naming them; run again, nothing is redone. Without
    ``--ray`` URIs are a usage error."""
    query, s3 = s3_server
    command = [
        *(sys.executable, "-m", "sacrop_cli", "crop", f"s3://photos/in?{query}", "-r", "4:3"),
        *("-o", f"s3://photos/out?{query}", "--weights", str(random_weights)),
    ]
    env = {**os.environ, **S3_ENV, "PYTHONPATH": str(REPO)}

    def crop(*more: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*command, *more], env=env, capture_output=True, text=True, timeout=600, check=False
        )

    local = crop()
    assert local.returncode == 2
    assert f"s3://photos/in?{query}: URIs are read and written with --ray only" in local.stderr

    first = crop("--ray", "local", "--ray-workers", "1", "--manifest", str(tmp_path / "1.jsonl"))
    assert first.returncode == 0, first.stderr
    written = _objects(s3, "photos/out")
    assert sorted(written) == ["photos/out/coffee.4x3.1.jpg", "photos/out/sub/rocket.4x3.1.jpg"]
    records = {r["source"]: r for r in read_jsonl(tmp_path / "1.jsonl")}
    assert {source: r["status"] for source, r in records.items()} == {
        "s3://photos/in/notes.txt": "skipped",
        "s3://photos/in/coffee.jpg": "ok",
        "s3://photos/in/sub/rocket.jpg": "ok",
    }
    for record in (r for r in records.values() if r["status"] == "ok"):
        [crop_record] = record["crops"]
        assert crop_record["status"] == "written"
        key = crop_record["path"].removeprefix("s3://")
        x1, y1, x2, y2 = crop_record["box"]
        with Image.open(io.BytesIO(written[key])) as image:
            assert image.format == "JPEG" and image.size == (x2 - x1, y2 - y1)

    # the same manifest: its records say what was done, and the crops are there
    again = crop("--ray", "local", "--ray-workers", "1", "--manifest", str(tmp_path / "1.jsonl"))
    assert again.returncode == 0, again.stderr
    assert _objects(s3, "photos/out") == written  # nothing rewritten, nothing added
    assert {
        r["source"]: [(c["path"], c["status"]) for c in r["crops"]]
        for r in read_jsonl(tmp_path / "1.jsonl")
    } == {
        "s3://photos/in/notes.txt": [],
        "s3://photos/in/coffee.jpg": [("s3://photos/out/coffee.4x3.1.jpg", "exists")],
        "s3://photos/in/sub/rocket.jpg": [("s3://photos/out/sub/rocket.4x3.1.jpg", "exists")],
    }
    s3.delete_dir_contents("photos/out")
