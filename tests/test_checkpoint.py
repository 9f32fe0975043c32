import pickle

import pytest
import torch
from helpers import EXAMPLES

from sacrop_cli.errors import CheckpointError
from sacrop_cli.model.checkpoint import FORMAT_VERSION, make_meta, read_checkpoint, save_checkpoint
from sacrop_cli.model.format import ScorerConfig
from sacrop_cli.model.network import CropScorer, build_scorer


@pytest.fixture(scope="module")
def model() -> CropScorer:
    torch.manual_seed(0)
    return CropScorer(ScorerConfig(spatial=False)).eval()


def _scores(model: CropScorer) -> torch.Tensor:
    torch.manual_seed(5)
    images = torch.randn(1, 3, 256, 384)
    rois = torch.tensor([[0, 0.0, 0, 384, 256], [0, 20, 10, 300, 250], [0, 50, 0, 350, 200]])
    with torch.inference_mode():
        return model(images, rois)


def test_round_trip_float32_gives_identical_scores(model, tmp_path):
    path = save_checkpoint(
        tmp_path / "a.pt", model, make_meta(model, lambda_cls=1.0, delta=0.1), half=False
    )
    ckpt = read_checkpoint(path)
    assert ckpt.meta["lambda_cls"] == 1.0 and ckpt.meta["config"]["spatial"] is False
    assert torch.equal(_scores(build_scorer(ckpt)), _scores(model))


def test_float16_file_loads_as_float32(model, tmp_path):
    path = save_checkpoint(tmp_path / "h.pt", model, make_meta(model))
    raw = torch.load(path, weights_only=True)
    assert raw["state_dict"]["regress.weight"].dtype == torch.float16
    rebuilt = build_scorer(read_checkpoint(path))
    assert rebuilt.regress.weight.dtype == torch.float32
    torch.testing.assert_close(_scores(rebuilt), _scores(model), atol=2e-2, rtol=2e-2)
    # two loads of the same file agree exactly
    assert torch.equal(_scores(build_scorer(read_checkpoint(path))), _scores(rebuilt))


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch EVIL_RAN",))


def test_malicious_pickle_is_refused_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": "sacrop-checkpoint", "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)
    assert not (tmp_path / "EVIL_RAN").exists()


def test_plain_pickle_file_is_refused(tmp_path):
    path = tmp_path / "p.pt"
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError):
        read_checkpoint(path)


def test_plain_pickle_file_is_refused_for_its_code(tmp_path):
    path = tmp_path / "p.pt"
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError, match="needs pickled code"):
        read_checkpoint(path)


@pytest.mark.parametrize("name", ["coffee.jpg", "CREDITS"])
def test_a_photo_or_a_text_is_not_a_weights_file(name):
    path = EXAMPLES / name
    with pytest.raises(CheckpointError) as err:
        read_checkpoint(path)
    assert str(err.value) == (
        f"{path}: not a weights file (sacrop reads .onnx graphs and .pt checkpoints)"
    )


def test_truncated_file_is_refused(model, tmp_path):
    path = save_checkpoint(tmp_path / "t.pt", model, make_meta(model))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged or truncated"):
        read_checkpoint(path)


def test_other_architecture_is_refused(model, tmp_path):
    path = save_checkpoint(tmp_path / "o.pt", model, make_meta(model, architecture="someone.Else"))
    with pytest.raises(CheckpointError, match="architecture 'someone.Else'"):
        read_checkpoint(path)


def test_newer_format_is_refused(model, tmp_path):
    path = tmp_path / "n.pt"
    torch.save(
        {
            "format": "sacrop-checkpoint",
            "format_version": FORMAT_VERSION + 1,
            "meta": make_meta(model),
            "state_dict": {},
        },
        path,
    )
    with pytest.raises(CheckpointError, match="newer"):
        read_checkpoint(path)


def test_tensors_that_do_not_fit_are_refused(model, tmp_path):
    meta = make_meta(model)
    meta["config"]["spatial"] = True  # claims the full model, carries the basic one's tensors
    path = save_checkpoint(tmp_path / "m.pt", model, meta)
    with pytest.raises(CheckpointError, match="do not fit"):
        build_scorer(read_checkpoint(path))


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        read_checkpoint(tmp_path / "nope.pt")
