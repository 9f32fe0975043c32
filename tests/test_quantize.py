"""The int8 graph (model/quantize.py): made from a float graph, read by every reader of graphs,
and saying how it was made."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers import EXAMPLES

from sacrop_cli.candidates import gaic_grid
from sacrop_cli.model import quantize
from sacrop_cli.model.format import GRAPH_INPUTS, GRAPH_OUTPUTS


def test_calibration_leaves_the_validation_photos_out(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.JPG", "d.jpg", "e.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    names = lambda photos: [p.name for p in photos]  # noqa: E731
    assert names(quantize.calibration_photos(tmp_path, ["b.jpg"], 2)) == ["a.jpg", "d.jpg"]
    assert names(quantize.calibration_photos(tmp_path, [], 10)) == [
        "a.jpg",
        "b.jpg",
        "c.JPG",
        "d.jpg",
        "e.jpg",
    ]


@pytest.mark.slow
def test_int8_graph_of_a_float_graph(random_weights, tmp_path):
    import onnxruntime as ort

    from sacrop_cli.engines.onnx_engine import OnnxEngine

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee.jpg", "wine.jpg", "rocket.jpg"):
        shutil.copy(EXAMPLES / name, photos / name)
    graph = random_weights.with_suffix(".onnx")
    made = quantize.quantize_graph(graph, photos, gaic_grid, count=2, command="sacrop test")
    assert made == random_weights.with_name("random.int8.onnx")

    session = ort.InferenceSession(str(made), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == GRAPH_INPUTS[True]
    assert [o.name for o in session.get_outputs()] == GRAPH_OUTPUTS[True]
    props = session.get_modelmeta().custom_metadata_map
    assert props["sacrop_precision"] == "int8"
    how = json.loads(props["sacrop_quantization"])
    assert (how["calibration_photos"], how["command"]) == (2, "sacrop test")
    assert how["calibration_boxes"] == len(gaic_grid(600, 400)) + len(gaic_grid(640, 427))

    float_engine, int8_engine = OnnxEngine(graph), OnnxEngine(made)
    assert int8_engine.meta["checkpoint_sha256"] == float_engine.meta["checkpoint_sha256"]
    image = np.random.default_rng(0).normal(size=(1, 3, 256, 384)).astype(np.float32)
    rois = np.asarray([[0, 0, 0, 384, 256], [0, 32, 16, 300, 200]], np.float32)
    scores = int8_engine.scores(int8_engine.encode(image), rois)
    assert scores.shape == (2,) and np.isfinite(scores).all()


@pytest.mark.slow
def test_the_shipped_int8_graph_ranks_crops_as_the_float_graph():
    """The int8 graph is only worth shipping if it ranks crops as the float one does: on the
    GAIC grid of four example photos, the same best crop, rank correlation >= 0.98 and no
    score more than 0.1 away (scores spread over about 0.8 there)."""
    from PIL import Image

    from sacrop_cli.api import Cropper

    fp32, int8 = Cropper(device="cpu"), Cropper(precision="int8", device="cpu")
    assert int8.weights_path.name == "sacrop-fcdb-v2.int8.onnx"
    for name in ("coffee.jpg", "wine.jpg", "rocket.jpg", "sunset.jpg"):
        with Image.open(EXAMPLES / name) as photo:
            boxes = gaic_grid(*photo.size)
        [exact] = fp32.score_many([EXAMPLES / name], [boxes])
        [quantized] = int8.score_many([EXAMPLES / name], [boxes])
        assert quantized.argmax() == exact.argmax()
        ranks = np.argsort(np.argsort(exact)), np.argsort(np.argsort(quantized))
        assert np.corrcoef(*ranks)[0, 1] >= 0.98
        assert np.abs(quantized - exact).max() <= 0.1
        assert not np.array_equal(quantized, exact)  # two graphs, not one read twice
