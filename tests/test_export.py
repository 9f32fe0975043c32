"""The exported ONNX graph against the torch network it comes from."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import REPO

from sacrop_cli.api import Cropper
from sacrop_cli.candidates import candidates_for
from sacrop_cli.model.checkpoint import read_checkpoint
from sacrop_cli.model.registry import sha256_file
from sacrop_cli.ratios import parse_ratio

FCDB_PHOTOS = sorted((REPO / "tests" / "fixtures" / "fcdb" / "images").glob("*.jpg"))
RATIOS = ["any", "4:3", "3:4", "1:1", "16:9", "9:16"]


@pytest.fixture(scope="module")
def shipped() -> tuple[Cropper, Cropper]:
    """The shipped weights on both engines."""
    return Cropper(engine="onnx", device="cpu"), Cropper(engine="torch", device="cpu")


@pytest.mark.parametrize("photo", FCDB_PHOTOS, ids=lambda p: p.name)
def test_shipped_graph_scores_every_candidate_as_the_checkpoint(shipped, photo):
    onnx_cropper, torch_cropper = shipped
    analysis = onnx_cropper.load(photo)
    boxes = np.concatenate([candidates_for(parse_ratio(r), *analysis.full_size) for r in RATIOS])
    got = onnx_cropper.score_many([analysis], [boxes])[0]
    want = torch_cropper.score_many([analysis], [boxes])[0]
    assert len(boxes) > 500 and want.std() > 0.1  # a real spread of scores, not a constant
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


@pytest.mark.parametrize("photo", FCDB_PHOTOS, ids=lambda p: p.name)
def test_shipped_graph_gives_the_same_best_crops(shipped, photo):
    onnx_cropper, torch_cropper = shipped
    got = onnx_cropper.crop(photo, RATIOS, top_k=2)
    want = torch_cropper.crop(photo, RATIOS, top_k=2)
    assert [(c.ratio, c.rank, c.box) for c in got] == [(c.ratio, c.rank, c.box) for c in want]
    assert [c.score for c in got] == pytest.approx([c.score for c in want], abs=1e-4)


@pytest.mark.parametrize("size", [(32, 32), (256, 256), (768, 256), (256, 768), (416, 288)])
def test_one_graph_for_every_input_size(random_weights, size):
    """Dynamic image size and number of crops: features and scores equal the torch model's."""
    from sacrop_cli.engines.onnx_engine import OnnxEngine
    from sacrop_cli.engines.torch_engine import TorchEngine

    graph = OnnxEngine(random_weights.with_suffix(".onnx"), device="cpu")
    model = TorchEngine(random_weights, device="cpu")
    w, h = size
    images = np.random.default_rng(0).normal(size=(1, 3, h, w)).astype(np.float32)
    rng = np.random.default_rng(1)
    for k in (1, 7, 300):
        xy = rng.uniform(0, [w, h], size=(k, 2))
        wh = rng.uniform(1, [w, h], size=(k, 2))
        rois = np.concatenate([np.zeros((k, 1)), xy, np.minimum(xy + wh, [w, h])], 1).astype(
            np.float32
        )
        np.testing.assert_allclose(
            graph.scores(graph.encode(images), rois),
            model.scores(model.encode(images), rois),
            atol=1e-4,
            rtol=0,
        )
    np.testing.assert_allclose(
        graph.maps(graph.encode(images)), model.maps(model.encode(images)), atol=1e-5, rtol=0
    )


def test_basic_model_graph_has_no_maps(basic_weights):
    from sacrop_cli.engines.onnx_engine import OnnxEngine
    from sacrop_cli.engines.torch_engine import TorchEngine

    graph = OnnxEngine(basic_weights.with_suffix(".onnx"), device="cpu")
    model = TorchEngine(basic_weights, device="cpu")
    images = np.random.default_rng(2).normal(size=(2, 3, 256, 384)).astype(np.float32)
    rois = np.asarray(
        [[0, 0, 0, 384, 256], [1, 10, 20, 200, 250], [0, 50, 5, 300, 200]], np.float32
    )
    assert not graph.spatial and graph.maps(graph.encode(images)) is None
    np.testing.assert_allclose(
        graph.scores(graph.encode(images), rois),
        model.scores(model.encode(images), rois),
        atol=1e-4,
        rtol=0,
    )


def test_graph_keeps_the_checkpoints_metadata(random_weights):
    from sacrop_cli.engines.onnx_engine import open_graph

    _, meta = open_graph(random_weights.with_suffix(".onnx"), optimize=False)
    assert meta.pop("checkpoint_sha256") == sha256_file(random_weights)
    assert meta == read_checkpoint(random_weights).meta


@pytest.mark.slow
def test_export_command_writes_the_graph_beside_the_checkpoint(random_weights, tmp_path):
    from click.testing import CliRunner

    from sacrop_cli.cli.main import main

    copy = tmp_path / "mine.pt"
    copy.write_bytes(random_weights.read_bytes())
    result = CliRunner().invoke(main, ["weights", "export", str(copy)])
    assert (result.exit_code, result.stdout) == (0, f"{tmp_path / 'mine.onnx'}\n"), result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "mine.onnx",
        "mine.pt",
    ]  # no temporary left
    photo = REPO / "examples" / "coffee.jpg"
    assert Cropper(copy, engine="onnx").crop(photo) == Cropper(random_weights, engine="onnx").crop(
        photo
    )
