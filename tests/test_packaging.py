"""The package installs as a wheel into another virtual environment, finds its weights and crops."""

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from helpers import REPO


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_crops_without_torch(tmp_path):
    """``pip install sacrop`` alone (no torch) finds both shipped files and crops a photo."""
    src = tmp_path / "src"
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(src),
        ],
        check=True,
    )
    wheel = next((tmp_path / "dist").glob("sacrop-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [py, "-m", "pip", "install", "-q", str(wheel)], check=True
    )  # with its dependencies
    # run from a neutral folder so the source checkout is not importable
    code = (
        "import importlib.util, sys; "
        "from sacrop_cli.model.registry import locate, DEFAULT_WEIGHTS; import sacrop_cli; "
        "print(locate(DEFAULT_WEIGHTS)); print(locate(DEFAULT_WEIGHTS, 'torch')); "
        "print(sacrop_cli.__file__); "
        "print(importlib.util.find_spec('torch') is None)"
    )
    out = subprocess.run(
        [py, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    graph, checkpoint, module, no_torch = Path(out[0]), Path(out[1]), Path(out[2]), out[3]
    assert str(module).startswith(str(env_dir)) and no_torch == "True"
    for found, name in ((graph, "sacrop-fcdb-v2.onnx"), (checkpoint, "sacrop-fcdb-v2.pt")):
        assert (
            str(found).startswith(str(env_dir))
            and found.read_bytes() == (REPO / "weights" / name).read_bytes()
        )
    photo = REPO / "examples" / "coffee.jpg"
    cropped = subprocess.run(
        [env_dir / "bin" / "sacrop", "crop", photo, "-r", "4:3", "--dry-run", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert cropped.returncode == 0, cropped.stderr
    assert json.loads(cropped.stdout)["crops"][0]["ratio"] == "4:3"
    trained = subprocess.run(
        [env_dir / "bin" / "sacrop", "train", "--fcdb", tmp_path, "-o", tmp_path / "m.pt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (trained.returncode, trained.stderr) == (
        1,
        'error: sacrop train needs torch, which is not installed: pip install "sacrop[train]" '
        '(from a checkout: pip install ".[train]")\n',
    )


def test_editable_checkout_finds_the_weights_folder():
    from sacrop_cli.model.registry import shipped_weights_dirs

    assert (REPO / "weights").resolve() in [Path(p).resolve() for p in shipped_weights_dirs()]
