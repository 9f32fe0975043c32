"""Choosing an engine, and cropping without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner
from helpers import REPO

from sacrop_cli.engines import factory as engine
from sacrop_cli.errors import SacropError


@pytest.mark.parametrize(
    "asked, device, cuda_in_onnxruntime, chosen",
    [
        ("auto", "auto", False, "onnx"),
        ("auto", "cpu", False, "onnx"),
        ("auto", "cuda", False, "torch"),  # CUDA through torch when ONNX Runtime has none
        ("auto", "cuda", True, "onnx"),
        ("torch", "cpu", False, "torch"),
        ("onnx", "cuda", False, "onnx"),  # then the engine itself says CUDA is missing
    ],
)
def test_choose_engine(monkeypatch, asked, device, cuda_in_onnxruntime, chosen):
    monkeypatch.setattr(engine, "onnx_cuda_available", lambda: cuda_in_onnxruntime)
    assert engine.choose_engine(asked, device) == chosen


def test_unknown_engine_or_device_is_one_line():
    with pytest.raises(SacropError, match="^unknown engine 'tf'; choose one of auto, onnx, torch$"):
        engine.choose_engine("tf")
    with pytest.raises(SacropError, match="^unknown device 'tpu'; choose one of auto, cpu, cuda$"):
        engine.choose_engine("auto", "tpu")


def test_onnx_engine_on_cuda_without_cuda_says_what_to_do(random_weights, monkeypatch):
    monkeypatch.setattr("sacrop_cli.engines.onnx_engine.onnx_cuda_available", lambda: False)
    with pytest.raises(
        SacropError,
        match="^--device cuda: this ONNX Runtime has no CUDA; install "
        "onnxruntime-gpu or use --engine torch$",
    ):
        engine.load_engine(random_weights, engine="onnx", device="cuda")


def test_torch_engine_without_torch_names_the_extra(random_weights, photo_dir, monkeypatch):
    from sacrop_cli.cli.main import main

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    result = CliRunner().invoke(
        main,
        [
            "crop",
            str(photo_dir),
            "--engine",
            "torch",
            "--dry-run",
            "--weights",
            str(random_weights),
        ],
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "error: the torch engine (--engine torch, or --device cuda without "
        'onnxruntime-gpu) needs torch, which is not installed: pip install "sacrop[train]" '
        '(from a checkout: pip install ".[train]")\n'
    )


def test_cropping_never_imports_torch(random_weights, photo_dir):
    code = (
        "import sys; from sacrop_cli.cli.main import main\n"
        "try:\n"
        f"    main(['crop', {str(photo_dir)!r}, '--dry-run', '-q', "
        f"'--weights', {str(random_weights)!r},"
        " '-r', 'any', '-r', '4:3'])\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_workers_follow_the_cores_and_threads(random_weights, monkeypatch):
    from sacrop_cli.engines import onnx_engine

    monkeypatch.setattr(onnx_engine, "cpu_cores", lambda: 4)
    for threads, workers in ((None, 4), (1, 4), (2, 2), (4, 1), (8, 1)):
        loaded = engine.load_engine(random_weights, engine="onnx", device="cpu", threads=threads)
        with loaded.workers() as n:
            assert n == workers


def test_precision_picks_the_graph(random_weights):
    from sacrop_cli.api import Cropper
    from sacrop_cli.cli.crop import crop

    (option,) = [p for p in crop.params if p.name == "precision"]
    assert (tuple(option.type.choices), option.default) == (
        engine.PRECISIONS,
        engine.DEFAULT_PRECISION,
    )
    assert Cropper(precision="int8", device="cpu").weights_path.name == "sacrop-fcdb-v2.int8.onnx"
    assert Cropper(device="cpu").weights_path.name == "sacrop-fcdb-v2.onnx"
    with pytest.raises(SacropError) as info:
        engine.load_engine(random_weights, engine="torch", precision="int8")
    assert str(info.value) == "--precision int8 runs on ONNX Runtime: use --engine onnx"
    with pytest.raises(SacropError) as info:
        engine.load_engine(random_weights, precision="int4")
    assert str(info.value) == "unknown precision 'int4'; choose one of fp32, int8"


def test_the_choices_load_nothing_heavy():
    code = (
        "import sys\n"
        "from sacrop_cli.engines.choices import DEVICES, ENGINES, PRECISIONS\n"
        "heavy = sorted({'numpy', 'PIL', 'onnxruntime', 'torch'} & set(sys.modules))\n"
        "assert not heavy, f'imported: {heavy}'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
