"""`sacrop explain` and its picture, with a random (seeded) model."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import EXAMPLES, run
from PIL import Image


def test_explain_writes_the_maps_and_the_scores(use_random_weights, tmp_path):
    out = tmp_path / "why.png"
    result = run("explain", EXAMPLES / "chelsea-cat.jpg", "-r", "4:3", "-o", out)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output and "4:3: best [" in result.output
    with Image.open(out) as im:
        # 3 panels of 360x239 (451x300 scaled) with gaps of 14; below them: the colour scale
        # line, and a title and 5 candidates for the one ratio
        assert im.size == (
            16 + 3 * 360 + 2 * 14 + 16,
            16 + 28 + 22 + 239 + 4 + 18 + 14 + 6 * 18 + 16,
        )


def test_explain_with_basic_weights_shows_only_the_crops(basic_weights, tmp_path):
    out = tmp_path / "why.png"
    result = run(
        "explain",
        EXAMPLES / "chelsea-cat.jpg",
        "--weights",
        basic_weights,
        "-r",
        "4:3",
        "-r",
        "1:1",
        "-k",
        "2",
        "-o",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "basic model (no spatial-aware feature)" in result.output
    with Image.open(out) as im:  # one panel; the two ratios' lists side by side
        assert im.size == (2 * 300 + 2 * 16, 16 + 28 + 22 + 239 + 4 + 18 + 14 + 3 * 18 + 16)


def test_explain_maps_come_from_the_spatial_feature(random_weights):
    import torch

    from sacrop_cli.api import Cropper
    from sacrop_cli.model.checkpoint import read_checkpoint
    from sacrop_cli.model.network import build_scorer
    from sacrop_cli.model.preprocess import image_to_array, input_size
    from sacrop_cli.viz.explain import explain

    cropper = Cropper(random_weights, device="cpu")
    result = explain(cropper, EXAMPLES / "coffee.jpg", ["4:3"], top=3)
    assert result.maps.shape == (2, 16, 16) and result.maps.max() == pytest.approx(1.0)
    size = input_size(600, 400, cropper.input_spec)
    model = build_scorer(read_checkpoint(random_weights))
    with torch.inference_mode():
        feats = model.features(
            torch.from_numpy(image_to_array(result.image, size, cropper.input_spec)[None])
        )
    np.testing.assert_allclose(result.maps, feats.maps[0].numpy(), atol=1e-5, rtol=0)
    assert [c.rank for c in result.crops] == [1, 2, 3]
    assert result.crops == cropper.crop(EXAMPLES / "coffee.jpg", ["4:3"], top_k=3)


def test_heat_colours_and_overlay():
    from sacrop_cli.viz.explain import heat_colours, overlay

    assert heat_colours(np.array([0.0, 0.5, 1.0, 2.0])).tolist() == [
        [0, 0, 4],
        [188, 55, 84],
        [252, 255, 164],
        [252, 255, 164],
    ]
    photo = Image.new("RGB", (8, 4), (100, 200, 50))
    low = np.asarray(overlay(photo, np.zeros((2, 2))))  # 30 % of the darkest colour
    assert low[0, 0].tolist() == [70, 140, 36]
    high = np.asarray(overlay(photo, np.ones((2, 2))))  # 90 % of the brightest
    assert high[0, 0].tolist() == [237, 250, 153]


def test_explain_output_must_be_a_picture(tmp_path):
    result = run("explain", EXAMPLES / "coffee.jpg", "-o", tmp_path / "why.gif")
    assert result.exit_code == 2
    assert "why.gif: the picture's name must end in .png, .jpg or .webp" in result.output


def test_explain_names_and_draws_the_faces(use_random_weights, tmp_path):
    out, plain = tmp_path / "why.png", tmp_path / "plain.png"
    result = run("explain", EXAMPLES / "astronaut.jpg", "-r", "1:1", "-o", out)
    assert result.exit_code == 0, result.output
    assert "faces: [[1" in result.output  # one face, about (179, 64, 268, 175)
    result = run("explain", EXAMPLES / "astronaut.jpg", "-r", "1:1", "-o", plain, "--no-faces")
    assert "faces:" not in result.output
    with Image.open(out) as a, Image.open(plain) as b:
        drawn, bare = np.asarray(a.convert("RGB")), np.asarray(b.convert("RGB"))

    # the first panel is 360 x 360 (scale 0.703) from (16, 66): the face's top edge is a white
    # line about 63 px long at y = 66 + 47, from x = 16 + 126
    def white_run(picture: np.ndarray) -> int:
        band = (picture[66 + 44 : 66 + 51, 16 + 120 : 16 + 200] == 255).all(axis=2)
        return int(band.sum(axis=1).max())

    assert white_run(drawn) >= 55 and white_run(bare) < 20
