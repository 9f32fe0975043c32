"""Shared fixtures: real (randomly initialised) weights, copies of real photos, and Croppers
on a torch-free stand-in engine. The helpers they use are in helpers.py, which tests import
directly."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import EXAMPLES, REQUIRE_ALL, DistanceEngine, require_all
from hypothesis import HealthCheck, settings

# Property tests (hypothesis): a bounded number of examples, no deadline (the machine may be
# shared: speed is for benchmarks/, not tests). Under CI=true the examples are derandomized (the
# same every run, no example database), so CI passes or fails on the code alone.
settings.register_profile(
    "dev", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", settings.get_profile("dev"), derandomize=True, database=None, print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI", "").lower() in ("1", "true") else "dev")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Under ``SACROP_REQUIRE_ALL=1`` (CI) a skipped test fails, whatever skipped it: a test
    that should run and did not must not leave the run green (helpers.missing says what to
    install; this catches every other skip)."""
    outcome = yield
    report = outcome.get_result()
    if require_all() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under {REQUIRE_ALL}=1, where every test must run: {reason}"


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint of the full network with seeded random weights (no ImageNet needed), and
    its ONNX graph beside it (``random.onnx``), as ``sacrop train`` leaves them."""
    import torch

    from sacrop_cli.model.checkpoint import make_meta, save_checkpoint
    from sacrop_cli.model.export import export_onnx
    from sacrop_cli.model.network import CropScorer

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

    from sacrop_cli.model.checkpoint import make_meta, save_checkpoint
    from sacrop_cli.model.export import export_onnx
    from sacrop_cli.model.network import CropScorer, ScorerConfig

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


@pytest.fixture
def distance_cropper():
    """A factory of Croppers scoring with :class:`helpers.DistanceEngine`:
    ``make(target, scale=0.64, **cropper_kwargs)``. A crop-only install (no torch) runs every
    test that uses it."""
    from sacrop_cli.api import Cropper

    def make(target: tuple[int, int, int, int], scale: float = 0.64, **cropper_kwargs):
        return Cropper(engine=DistanceEngine(target, scale), **cropper_kwargs)

    return make
