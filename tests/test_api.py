"""The Python API on real photos with a random (seeded) model: mechanics, not taste."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def cropper(random_weights: Path):
    from sacrop_cli.api import Cropper

    return Cropper(weights=random_weights, device="cpu")


def test_crop_returns_top_k_per_ratio_best_first(cropper):
    from sacrop_cli.api import Crop

    crops = cropper.crop(EXAMPLES / "coffee.jpg", ratios=["4:3", "1:1"], top_k=2)
    assert all(isinstance(c, Crop) for c in crops)
    assert [(c.ratio, c.rank) for c in crops] == [("4:3", 1), ("4:3", 2), ("1:1", 1), ("1:1", 2)]
    for first, second in (crops[0:2], crops[2:4]):
        assert first.score >= second.score and first.box != second.box
    for c in crops:
        x1, y1, x2, y2 = c.box
        assert 0 <= x1 < x2 <= 600 and 0 <= y1 < y2 <= 400
        rw, rh = (4, 3) if c.ratio == "4:3" else (1, 1)
        assert abs((y2 - y1) - (x2 - x1) * rh / rw) <= 0.5


def test_score_equals_the_crop_scores(cropper):
    path = str(EXAMPLES / "coffee.jpg")  # a str works as well as a Path
    crops = cropper.crop(path, ratios=["4:3", "1:1"], top_k=2)
    scores = cropper.score(path, [c.box for c in crops])
    assert scores == pytest.approx([c.score for c in crops], abs=1e-5)


def test_a_pil_image_gives_the_same_crops_as_its_png_file(cropper, tmp_path):
    png = tmp_path / "rocket.png"
    with Image.open(EXAMPLES / "rocket.jpg") as im:
        im.save(png)
    from_path = cropper.crop(png, ratios=["4:3", "any"], top_k=2)
    with Image.open(png) as im:
        from_image = cropper.crop(im, ratios=["4:3", "any"], top_k=2)
    assert [(c.ratio, c.rank, c.box) for c in from_image] == [(c.ratio, c.rank, c.box) for c in from_path]
    assert [c.score for c in from_image] == pytest.approx([c.score for c in from_path], abs=1e-6)


@pytest.mark.parametrize("box", [(0, 0, 601, 400), (-1, 0, 100, 100), (10, 10, 10, 50)])
def test_a_box_outside_or_empty_raises_value_error(cropper, box):
    with pytest.raises(ValueError, match="outside the 600x400 image"):
        cropper.score(EXAMPLES / "coffee.jpg", [box])
