"""Weights lookup, resumable downloads (against a local HTTP server) and the `weights` CLI."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from helpers import EXAMPLES, REPO

from sacrop_cli.cli.weights import weights as weights_group
from sacrop_cli.errors import CheckpointError, DownloadError
from sacrop_cli.model import inspection
from sacrop_cli.model import registry as w

PAYLOAD = bytes((i * 7 + i // 256) % 256 for i in range(300_000))
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    """/file.bin honours Range; /norange/file.bin ignores it; anything else is 404.

    ``server.cut_after`` (bytes) makes the next responses stop early and drop the connection.
    """

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        if self.path not in ("/file.bin", "/norange/file.bin"):
            self.send_error(404, "Not Found")
            return
        start = 0
        if self.headers.get("Range") and self.path == "/file.bin":
            start = int(self.headers["Range"].removeprefix("bytes=").rstrip("-"))
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.cut_after is not None:
            body = body[: server.cut_after]
            self.close_connection = True
        self.wfile.write(body)


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.requests = []
    httpd.cut_after = None
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache and no shipped weights, so tests don't depend on the checkout."""
    monkeypatch.setenv("SACROP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SACROP_WEIGHTS", raising=False)
    monkeypatch.setattr(w, "shipped_weights_dirs", lambda: [])
    return tmp_path / "cache" / "weights"


@pytest.fixture
def fake_reader(monkeypatch):
    """A stand-in for reading a weights file's metadata (the real one needs torch or ONNX Runtime
    and a real file): files starting with b"bad" fail to load, others give FAKE_META."""

    def read(path):
        if Path(path).read_bytes().startswith(b"bad"):
            raise CheckpointError(f"{path}: not a sacrop checkpoint")
        return FAKE_META, None

    monkeypatch.setattr(inspection, "read_weights_meta", read)


FAKE_META = {
    "architecture": "sacrop.CropScorer",
    "config": {"backbone": "mobilenet_v2", "spatial": True},
    "input": {"short_side": 256, "max_long_side": 768, "multiple": 32},
    "lambda_cls": 1.0,
}
FAKE_META_LINES = (
    "  architecture: sacrop.CropScorer (mobilenet_v2, spatial-aware feature)\n"
    "  input: short side 256, long side <= 768, multiple of 32\n"
    "  lambda_cls: 1.0\n"
)


def _cli() -> click.Group:
    """The real ``sacrop`` command group (a failed import is an error, not a stand-in)."""
    from sacrop_cli.cli.main import main

    assert main.commands["weights"] is weights_group
    return main


SHIPPED_SHA = "e79041a4d81ced3ba72f5f7bb8d07588d47c62c07b4c587c6e9ff2574c02e8b6"
SHIPPED_GRAPH_SHA = "8e727fc13c95067437a84f53a19fcc250437f96ed923271eda13f36db7fe0f82"
SHIPPED_INT8_SHA = "2fe38786aff825d5a44df05d344c28ab80b137248faf95432bc530f4f31dd21b"


def test_registry_default_entry():
    assert w.REGISTRY[w.DEFAULT_WEIGHTS] == w.WeightsEntry(
        "sacrop-fcdb-v2",
        "MobileNetV2 + spatial-aware feature + rank consistency, trained on FCDB",
        (
            w.WeightsFile("onnx", "sacrop-fcdb-v2.onnx", SHIPPED_GRAPH_SHA),
            w.WeightsFile("torch", "sacrop-fcdb-v2.pt", SHIPPED_SHA),
            w.WeightsFile("int8", "sacrop-fcdb-v2.int8.onnx", SHIPPED_INT8_SHA),
        ),
    )


def test_shipped_files_match_the_registry():
    for file in w.REGISTRY[w.DEFAULT_WEIGHTS].files:
        assert w.sha256_file(REPO / "weights" / file.filename) == file.sha256


def test_shipped_dirs_include_repo_weights_folder():
    assert (REPO / "weights").resolve() in w.shipped_weights_dirs()


def test_cache_dir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SACROP_CACHE_DIR", str(tmp_path))
    assert w.cache_dir() == tmp_path


def test_download_plain_with_sha256(server, tmp_path):
    path = w.download(
        f"{server.url}/file.bin", sha256=PAYLOAD_SHA.upper(), dest_dir=tmp_path, progress=False
    )
    assert path == tmp_path / "file.bin"
    assert path.read_bytes() == PAYLOAD
    assert list(tmp_path.iterdir()) == [path]
    assert server.requests == [("/file.bin", None)]


def test_download_existing_file_is_not_fetched_again(server, tmp_path):
    (tmp_path / "file.bin").write_bytes(PAYLOAD)
    assert (
        w.download(f"{server.url}/file.bin", sha256=PAYLOAD_SHA, dest_dir=tmp_path, progress=False)
        == tmp_path / "file.bin"
    )
    assert server.requests == []


def test_interrupted_download_resumes(server, tmp_path):
    url = f"{server.url}/file.bin"
    server.cut_after = 120_000
    with pytest.raises(DownloadError) as info:
        w.download(url, sha256=PAYLOAD_SHA, dest_dir=tmp_path, progress=False)
    assert str(info.value) == (
        f"{url}: connection closed after 120000 of 300000 bytes; rerun to resume"
    )
    part = tmp_path / "file.bin.part"
    assert part.read_bytes() == PAYLOAD[:120_000]
    assert not (tmp_path / "file.bin").exists()

    server.cut_after = None
    path = w.download(url, sha256=PAYLOAD_SHA, dest_dir=tmp_path, progress=False)
    assert server.requests[-1] == ("/file.bin", "bytes=120000-")
    assert path.read_bytes() == PAYLOAD
    assert not part.exists()


def test_server_ignoring_range_restarts(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(b"stale bytes")
    path = w.download(
        f"{server.url}/norange/file.bin", sha256=PAYLOAD_SHA, dest_dir=tmp_path, progress=False
    )
    assert server.requests == [("/norange/file.bin", "bytes=11-")]
    assert path.read_bytes() == PAYLOAD


def test_complete_part_answered_416_is_used(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD)
    path = w.download(
        f"{server.url}/file.bin", sha256=PAYLOAD_SHA, dest_dir=tmp_path, progress=False
    )
    assert server.requests == [("/file.bin", "bytes=300000-")]
    assert path.read_bytes() == PAYLOAD


def test_oversized_part_answered_416_restarts(server, tmp_path):
    (tmp_path / "file.bin.part").write_bytes(PAYLOAD + b"junk")
    path = w.download(f"{server.url}/file.bin", dest_dir=tmp_path, progress=False)
    assert server.requests == [("/file.bin", "bytes=300004-"), ("/file.bin", None)]
    assert path.read_bytes() == PAYLOAD


def test_404_raises_and_leaves_nothing(server, tmp_path):
    url = f"{server.url}/missing.bin"
    with pytest.raises(DownloadError) as info:
        w.download(url, dest_dir=tmp_path, progress=False)
    assert str(info.value) == f"{url}: HTTP 404 Not Found"
    assert list(tmp_path.iterdir()) == []


def test_wrong_checksum_removes_file(server, tmp_path):
    url = f"{server.url}/file.bin"
    with pytest.raises(DownloadError) as info:
        w.download(url, sha256="0" * 64, dest_dir=tmp_path, progress=False)
    assert str(info.value) == (
        f"{url}: SHA-256 mismatch: expected {'0' * 64}, got {PAYLOAD_SHA}; the file was removed"
    )
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_is_download_error(tmp_path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    url = f"http://127.0.0.1:{httpd.server_address[1]}/file.bin"
    httpd.server_close()
    with pytest.raises(DownloadError, match=r"^http://127\.0\.0\.1:\d+/file\.bin: .*refused"):
        w.download(url, dest_dir=tmp_path, progress=False)


def test_url_without_file_name_is_rejected(tmp_path):
    with pytest.raises(DownloadError, match="does not end in a file name"):
        w.download("http://127.0.0.1:1/", dest_dir=tmp_path, progress=False)


def test_resolve_url_downloads_once_into_cache(server, cache):
    url = f"{server.url}/file.bin#sha256={PAYLOAD_SHA}"
    assert w.resolve_weights(url, progress=False) == cache / "file.bin"
    assert w.resolve_weights(url, progress=False) == cache / "file.bin"
    assert len(server.requests) == 1
    assert (cache / "file.bin").read_bytes() == PAYLOAD


def test_a_url_runs_only_checked_or_trusted(server, cache):
    url = f"{server.url}/file.bin"
    with pytest.raises(CheckpointError) as err:
        w.resolve_weights(url, progress=False)
    assert str(err.value) == (
        f"{url}: a downloaded model runs only once checked: give --sha256 HEX "
        f"(in Python: '{url}#sha256=HEX'), or --trust to run it unchecked"
    )
    assert server.requests == []
    with pytest.raises(DownloadError, match=f"SHA-256 mismatch: expected {'0' * 64}, got "):
        w.resolve_weights(f"{url}#sha256={'0' * 64}", progress=False)
    assert not (cache / "file.bin").exists() and not (cache / "file.bin.part").exists()
    assert w.resolve_weights(w.pin(url, trust=True), progress=False) == cache / "file.bin"
    assert w.pin(url, PAYLOAD_SHA.upper()) == f"{url}#sha256={PAYLOAD_SHA}"
    assert w.split_pin(f"{url}#unchecked") == (url, None, True)


def test_cli_weights_url_needs_sha256_or_trust(server, cache):
    url = f"{server.url}/file.bin"
    box = ["--box", "0,0,10,10"]
    photo = str(EXAMPLES / "coffee.jpg")
    res = CliRunner().invoke(_cli(), ["score", photo, *box, "--weights", url])
    assert res.exit_code == 1 and res.stderr.startswith(f"error: {url}: a downloaded model runs")
    assert server.requests == []
    wrong = ["--weights", url, "--sha256", "0" * 64]
    res = CliRunner().invoke(_cli(), ["score", photo, *box, *wrong])
    assert res.exit_code == 1 and "SHA-256 mismatch" in res.stderr
    for flags in (["--sha256", PAYLOAD_SHA], ["--trust"]):
        res = CliRunner().invoke(_cli(), ["score", photo, *box, "--weights", "x.onnx", *flags])
        assert res.exit_code == 2 and "--sha256 and --trust check a URL given as --weights" in (
            res.stderr
        )


def test_resolve_path_env_and_unknown(cache, tmp_path, monkeypatch):
    ckpt = tmp_path / "mine.pt"
    ckpt.write_bytes(b"x")
    assert w.resolve_weights(str(ckpt), kind="torch") == ckpt
    monkeypatch.setenv("SACROP_WEIGHTS", str(ckpt))
    assert w.resolve_weights(kind="torch") == ckpt
    with pytest.raises(CheckpointError) as info:
        w.resolve_weights("nope")
    assert str(info.value) == (
        "nope: no such weights file or registered name (see `sacrop weights list`)"
    )


def test_a_file_of_the_other_kind_stands_for_its_sibling(cache, tmp_path):
    ckpt, graph = tmp_path / "mine.pt", tmp_path / "mine.onnx"
    ckpt.write_bytes(b"x")
    with pytest.raises(CheckpointError) as info:
        w.resolve_weights(ckpt, kind="onnx")
    assert str(info.value) == (
        f"{ckpt}: no ONNX graph beside it (mine.onnx): make one with "
        f"`sacrop weights export {ckpt}`, or use --engine torch"
    )
    graph.write_bytes(b"y")
    assert w.resolve_weights(ckpt, kind="onnx") == graph
    assert w.resolve_weights(graph, kind="torch") == ckpt
    ckpt.unlink()
    with pytest.raises(
        CheckpointError, match="the torch engine needs the checkpoint mine.pt beside it"
    ):
        w.resolve_weights(graph, kind="torch")
    other = tmp_path / "model.bin"  # neither kind's suffix: taken as it is
    other.write_bytes(b"z")
    assert w.resolve_weights(other, kind="onnx") == other


def test_resolve_default_missing_damaged_and_found(cache, tmp_path, monkeypatch):
    with pytest.raises(CheckpointError) as info:
        w.resolve_weights()
    assert str(info.value) == (
        "no trained weights are installed: sacrop-fcdb-v2.onnx is missing from "
        f"{cache}; reinstall sacrop or pass --weights PATH"
    )
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "sacrop-fcdb-v2.onnx").write_bytes(b"x")
    monkeypatch.setattr(w, "shipped_weights_dirs", lambda: [shipped])
    assert w.locate("sacrop-fcdb-v2") == shipped / "sacrop-fcdb-v2.onnx"
    assert w.locate("sacrop-fcdb-v2", "torch") is None
    with pytest.raises(CheckpointError) as info:  # a registered file is checked
        w.resolve_weights("sacrop-fcdb-v2")
    assert str(info.value) == (
        f"{shipped / 'sacrop-fcdb-v2.onnx'}: SHA-256 mismatch: expected "
        f"{SHIPPED_GRAPH_SHA}, got {hashlib.sha256(b'x').hexdigest()}; "
        "the file is damaged or was replaced: reinstall sacrop"
    )
    entry = w.WeightsEntry(
        "sacrop-fcdb-v2",
        "test",
        (w.WeightsFile("onnx", "sacrop-fcdb-v2.onnx", hashlib.sha256(b"x").hexdigest()),),
    )
    monkeypatch.setitem(w.REGISTRY, "sacrop-fcdb-v2", entry)
    assert w.resolve_weights("sacrop-fcdb-v2") == shipped / "sacrop-fcdb-v2.onnx"
    with pytest.raises(CheckpointError, match="sacrop-fcdb-v2: has no torch file"):
        w.resolve_weights("sacrop-fcdb-v2", kind="torch")


def test_locate_in_cache(cache):
    cache.mkdir(parents=True)
    (cache / "sacrop-fcdb-v2.pt").write_bytes(b"x")
    assert w.locate("sacrop-fcdb-v2", "torch") == cache / "sacrop-fcdb-v2.pt"
    assert w.locate("sacrop-fcdb-v2") is None  # the graph is not there
    assert w.locate("unknown") is None


def test_verify(tmp_path, fake_reader):
    good = tmp_path / "good.pt"
    good.write_bytes(b"good")
    sha = hashlib.sha256(b"good").hexdigest()
    assert inspection.verify(good, sha) == {
        "path": str(good),
        "sha256": sha,
        "size": 4,
        "ok": True,
        "error": None,
        "note": None,
        "meta": FAKE_META,
    }
    result = inspection.verify(good, "f" * 64)
    assert (result["ok"], result["error"]) == (
        False,
        f"{good}: SHA-256 mismatch: expected {'f' * 64}, got {sha}",
    )
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"bad")
    assert inspection.verify(bad, None)["error"] == f"{bad}: not a sacrop checkpoint"
    missing = tmp_path / "none.pt"
    assert inspection.verify(missing, None)["error"] == f"{missing}: no such file"


def test_summarise_meta_counts_the_training_files():
    meta = {
        **FAKE_META,
        "training": {
            "command": "sacrop train --fcdb d -o m.pt",
            "data": {"n_train": 10, "n_val": 2, "val_names": ["a.jpg"] * 2},
        },
        "metrics": {"validation": {"iou": 0.71234, "disp": 0.0712}},
        "checkpoint_sha256": "ab" * 32,
    }
    assert inspection.summarise_meta(meta)[2:] == [
        ("trained with", "sacrop train --fcdb d -o m.pt"),
        ("training data", "n_train 10, n_val 2"),
        ("lambda_cls", "1.0"),
        ("validation", "iou 0.7123, disp 0.0712"),
        ("exported from", f"checkpoint {'ab' * 32}"),
    ]


def test_cli_list_json(cache):
    cache.mkdir(parents=True)
    (cache / "sacrop-fcdb-v2.pt").write_bytes(PAYLOAD)
    result = CliRunner().invoke(_cli(), ["weights", "list", "--json"])
    assert result.exit_code == 0, result.output
    common = {
        "name": "sacrop-fcdb-v2",
        "default": True,
        "url": None,
        "description": w.REGISTRY["sacrop-fcdb-v2"].description,
    }
    assert json.loads(result.stdout) == [
        {
            **common,
            "kind": "onnx",
            "filename": "sacrop-fcdb-v2.onnx",
            "path": None,
            "present": False,
            "size": None,
            "sha256": None,
            "expected_sha256": SHIPPED_GRAPH_SHA,
        },
        {
            **common,
            "kind": "torch",
            "filename": "sacrop-fcdb-v2.pt",
            "path": str(cache / "sacrop-fcdb-v2.pt"),
            "present": True,
            "size": 300_000,
            "sha256": PAYLOAD_SHA,
            "expected_sha256": SHIPPED_SHA,
        },
        {
            **common,
            "kind": "int8",
            "filename": "sacrop-fcdb-v2.int8.onnx",
            "path": None,
            "present": False,
            "size": None,
            "sha256": None,
            "expected_sha256": SHIPPED_INT8_SHA,
        },
    ]


def test_cli_list_into_a_pipe_is_one_line_a_file(cache):
    cache.mkdir(parents=True)
    (cache / "sacrop-fcdb-v2.pt").write_bytes(PAYLOAD)
    result = CliRunner().invoke(_cli(), ["weights", "list"])  # not a terminal
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "sacrop-fcdb-v2\tonnx\tdefault\tnot present\t-\t-",
        f"sacrop-fcdb-v2\ttorch\tdefault\t{cache / 'sacrop-fcdb-v2.pt'}\t300000\t{PAYLOAD_SHA}",
        "sacrop-fcdb-v2\tint8\tdefault\tnot present\t-\t-",
    ]


@pytest.fixture
def terminal(monkeypatch):
    from sacrop_cli.cli import weights as weights_cli

    monkeypatch.setattr(weights_cli, "on_terminal", lambda: True)


def test_cli_list_table_shows_the_whole_sha256(cache, terminal):
    cache.mkdir(parents=True)
    (cache / "sacrop-fcdb-v2.pt").write_bytes(PAYLOAD)
    result = CliRunner().invoke(_cli(), ["weights", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert PAYLOAD_SHA in result.output


def test_cli_list_table(cache, terminal):
    result = CliRunner().invoke(_cli(), ["weights", "list"])
    assert result.exit_code == 0
    assert "sacrop-fcdb-v2" in result.output and "not present" in result.output
    assert "Location" in result.output  # the table's header: never in a pipe's lines


def test_cli_download(server, cache):
    result = CliRunner().invoke(
        _cli(), ["weights", "download", f"{server.url}/file.bin", "--sha256", PAYLOAD_SHA]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{cache / 'file.bin'}\n"
    assert (cache / "file.bin").read_bytes() == PAYLOAD


def test_cli_download_404(server, cache):
    result = CliRunner().invoke(_cli(), ["weights", "download", f"{server.url}/missing.bin"])
    assert result.exit_code == 1
    assert result.stderr == f"error: {server.url}/missing.bin: HTTP 404 Not Found\n"


def test_cli_bad_sha256_is_usage_error(cache):
    result = CliRunner().invoke(
        _cli(), ["weights", "download", "http://127.0.0.1:1/x.pt", "--sha256", "abc"]
    )
    assert result.exit_code == 2
    assert "expected 64 hexadecimal characters" in result.stderr


def test_cli_path(cache):
    runner = CliRunner()
    result = runner.invoke(_cli(), ["weights", "path", "sacrop-fcdb-v2"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no trained weights are installed")
    cache.mkdir(parents=True)
    mine = cache / "mine.pt"
    mine.write_bytes(b"x")
    result = runner.invoke(_cli(), ["weights", "path", str(mine), "--kind", "torch"])
    assert (result.exit_code, result.stdout) == (0, f"{mine}\n")
    result = runner.invoke(_cli(), ["weights", "path", str(mine)])
    assert result.exit_code == 1 and "no ONNX graph beside it (mine.onnx)" in result.stderr


def test_cli_verify(cache, tmp_path, fake_reader):
    good = tmp_path / "good.pt"
    good.write_bytes(b"good")
    result = CliRunner().invoke(_cli(), ["weights", "verify", str(good)])
    assert result.exit_code == 0
    assert result.stdout == (
        f"OK {good}\n  size: 4 bytes\n"
        f"  sha256: {hashlib.sha256(b'good').hexdigest()}\n" + FAKE_META_LINES
    )
    result = CliRunner().invoke(_cli(), ["weights", "verify", str(good), "--sha256", "a" * 64])
    assert result.exit_code == 1
    assert "SHA-256 mismatch" in result.stderr
    (tmp_path / "good.onnx").write_bytes(b"also good")  # the sibling is checked too
    result = CliRunner().invoke(_cli(), ["weights", "verify", str(good)])
    assert result.exit_code == 0
    assert result.stdout.count("OK ") == 2 and f"OK {tmp_path / 'good.onnx'}" in result.stdout


def test_help_has_examples():
    runner = CliRunner()
    for args in ([], ["list"], ["download"], ["path"], ["verify"], ["export"]):
        result = runner.invoke(_cli(), ["weights", *args, "--help"])
        assert result.exit_code == 0
        assert "Example:" in result.output


@pytest.mark.slow
def test_verify_with_real_reader(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    result = inspection.verify(bad, None)
    assert (result["ok"], result["size"], result["meta"]) == (False, 16, None)
    assert result["error"].startswith(f"{bad}: ")


def test_shipped_weights_match_their_checksum_and_load():
    """The committed default checkpoint: registered SHA-256, float16, metadata of its training."""
    import torch

    from sacrop_cli.model.checkpoint import read_checkpoint

    path = REPO / "weights" / "sacrop-fcdb-v2.pt"
    assert w.sha256_file(path) == SHIPPED_SHA
    ckpt = read_checkpoint(path)
    assert ckpt.state_dict["regress.weight"].dtype == torch.float16
    meta = ckpt.meta
    assert meta["config"]["spatial"] is True and meta["training"]["config"]["consistency"] is True
    assert meta["training"]["data"]["split_seed"] == 0 and meta["training"]["data"]["n_val"] == 200
    assert meta["training"]["command"].startswith("sacrop train --fcdb")
    assert {"lambda_cls", "delta"} <= set(meta) and meta["metrics"]["validation"]["iou"] > 0.69


def test_the_int8_graph_is_a_sibling_too(tmp_path):
    assert w.kind_of("a/m.int8.onnx") == "int8"
    assert w.kind_of("a/m.onnx") == "onnx" and w.kind_of("m.pt") == "torch"
    assert w.kind_of("m.bin") is None
    assert w.sibling(Path("a/m.int8.onnx"), "torch") == Path("a/m.pt")
    assert w.sibling(Path("a/m.pt"), "int8") == Path("a/m.int8.onnx")
    assert w.sibling(Path("a/m.onnx"), "int8") == Path("a/m.int8.onnx")
    graph = tmp_path / "mine.onnx"
    graph.write_bytes(b"y")
    with pytest.raises(CheckpointError) as info:
        w.resolve_weights(graph, kind="int8")
    assert str(info.value) == (
        f"{graph}: no int8 graph beside it (mine.int8.onnx): make one with "
        f"`sacrop weights export {tmp_path / 'mine.pt'} --int8`, or use --precision fp32"
    )
    (tmp_path / "mine.int8.onnx").write_bytes(b"z")
    assert w.resolve_weights(graph, kind="int8") == tmp_path / "mine.int8.onnx"
