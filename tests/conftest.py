"""Shared fixtures and helpers: real (randomly initialised) weights, copies of real photos,
synthetic images and EXIF blocks."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import piexif
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"  # real photos with licences (examples/CREDITS)
FIXTURES = REPO / "tests" / "fixtures"  # small FCDB and GAICD samples


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of the full network with seeded random weights (no ImageNet needed), and
    its ONNX graph beside it (``random.onnx``), as ``sacrop train`` leaves them."""
    import torch

    from sacrop_cli.checkpoint import make_meta, save_checkpoint
    from sacrop_cli.export import export_onnx
    from sacrop_cli.network import CropScorer

    torch.manual_seed(0)
    model = CropScorer()
    path = tmp_path_factory.mktemp("weights") / "random.pt"
    save_checkpoint(path, model, make_meta(model, training={"data": "none (random, tests)"}))
    export_onnx(path)
    return path


@pytest.fixture(scope="session")
def basic_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The basic model (no spatial-aware feature), seeded random, with its ONNX graph."""
    import torch

    from sacrop_cli.checkpoint import make_meta, save_checkpoint
    from sacrop_cli.export import export_onnx
    from sacrop_cli.network import CropScorer, ScorerConfig

    torch.manual_seed(0)
    model = CropScorer(ScorerConfig(spatial=False))
    path = save_checkpoint(tmp_path_factory.mktemp("basic") / "basic.pt", model, make_meta(model))
    export_onnx(path)
    return path


@pytest.fixture
def use_random_weights(random_weights: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make every command and ``Cropper()`` use the random checkpoint."""
    monkeypatch.setenv("SACROP_WEIGHTS", str(random_weights))
    return random_weights


@pytest.fixture
def photo_dir(tmp_path: Path) -> Path:
    """A folder with copies of three small real example photos (one in a sub-folder)."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    shutil.copy(EXAMPLES / "chelsea-cat.jpg", root / "chelsea-cat.jpg")
    shutil.copy(EXAMPLES / "coffee.jpg", root / "coffee.jpg")
    shutil.copy(EXAMPLES / "rocket.jpg", root / "sub" / "rocket.jpg")
    return root


MAKE, MODEL = b"Canon", b"EOS 5D Mark IV"
DATE = b"2021:06:13 17:45:02"


def exif_bytes(orientation: int = 1, thumbnail: bool = False) -> bytes:
    data: dict = {
        "0th": {
            piexif.ImageIFD.Make: MAKE,
            piexif.ImageIFD.Model: MODEL,
            piexif.ImageIFD.Orientation: orientation,
        },
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: DATE,
            piexif.ExifIFD.PixelXDimension: 9999,
            piexif.ExifIFD.PixelYDimension: 9999,
        },
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N"},
    }
    if thumbnail:
        buf = Image.new("RGB", (32, 24), "red")
        out = io.BytesIO()
        buf.save(out, "JPEG")
        data["1st"] = {piexif.ImageIFD.Compression: 6}
        data["thumbnail"] = out.getvalue()
    # piexif omits the next-IFD offset of the last sub-IFD, which makes Pillow warn.
    return piexif.dump(data) + b"\x00\x00\x00\x00"


def pattern(width: int = 64, height: int = 48, mode: str = "RGB") -> Image.Image:
    """Image whose every pixel differs from its neighbours, so flips and rotations show."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x * 7 + y * 13) % 256], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB").convert(mode)


def run(*args: object):
    """``sacrop ARGS...`` in process (click's CliRunner), exceptions not swallowed."""
    from click.testing import CliRunner

    from sacrop_cli.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def read_jsonl(path: Path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
