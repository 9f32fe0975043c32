"""The package installs as a wheel into another virtual environment and finds its weights."""
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_finds_the_shipped_weights(tmp_path):
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
    shipped = src / "weights" / "sacrop-fcdb-v2.pt"
    if not shipped.exists():  # before trained weights are committed, a stand-in file
        shipped.parent.mkdir(exist_ok=True)
        shipped.write_bytes(b"stand-in")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(src)], check=True)
    wheel = next((tmp_path / "dist").glob("sacrop-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)
    # run from a neutral folder so the source checkout is not importable
    code = ("from sacrop_cli.weights import locate, DEFAULT_WEIGHTS; import sacrop_cli; "
            "print(locate(DEFAULT_WEIGHTS)); print(sacrop_cli.__file__)")
    out = subprocess.run([py, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    found, module = Path(out[0]), Path(out[1])
    assert str(module).startswith(str(env_dir))
    assert str(found).startswith(str(env_dir)) and found.read_bytes() == shipped.read_bytes()


def test_editable_checkout_finds_the_weights_folder():
    from sacrop_cli.weights import shipped_weights_dirs

    assert (REPO / "weights").resolve() in [Path(p).resolve() for p in shipped_weights_dirs()]
