"""The semi-supervised rank-consistency trainer: the loop over epochs and steps, the best
weights kept, the run resumable.

Its parts: :mod:`~sacrop_cli.train.features` (photos as items, the backbone's feature cache),
:mod:`~sacrop_cli.train.step` (the losses of one step) and :mod:`~sacrop_cli.train.validation`.
In several processes (see :mod:`sacrop_cli.train.distributed`) a step is the single process's
step: each rank computes its share of the photos and the gradients are summed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sacrop_cli.errors import SacropError
from sacrop_cli.model.backbones import imagenet_weights
from sacrop_cli.model.checkpoint import make_meta, read_checkpoint, save_checkpoint
from sacrop_cli.model.format import ScorerConfig
from sacrop_cli.model.network import CropScorer, ImageFeatures
from sacrop_cli.train import distributed
from sacrop_cli.train.config import TrainConfig
from sacrop_cli.train.datasets import LabelledImage
from sacrop_cli.train.features import Item, item_features, prepare_item
from sacrop_cli.train.step import labelled_loss, unlabelled_loss
from sacrop_cli.train.validation import validate


class Trainer:
    """Trains a :class:`CropScorer`; see :func:`train` for the usual entry point."""

    def __init__(self, model: CropScorer, cfg: TrainConfig) -> None:
        self.model, self.cfg = model, cfg
        self.device = torch.device(cfg.device)
        if self.device.type == "cpu":
            # a seed then gives the same weights: some kernels' multi-threaded backward passes
            # otherwise sum in varying order
            torch.use_deterministic_algorithms(True)
        self.model.to(self.device)
        self.rng = np.random.default_rng(cfg.seed)
        if cfg.freeze_backbone:
            for name, p in self.model.backbone.named_parameters():
                p.requires_grad = (
                    (cfg.tune_top or cfg.tune_mid)
                    and name.startswith("top.")
                    or cfg.tune_mid
                    and name.startswith("mid.")
                )
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.ema = None
        if cfg.ema > 0:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(
                self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema), use_buffers=True
            )
        self.epoch = 0
        self.history: list[dict] = []
        self.best: dict | None = None

    # -- data ------------------------------------------------------------------------------
    def prepare(
        self, samples: list[LabelledImage], on_item: Callable[[], None] | None = None
    ) -> tuple[list[Item], list[str]]:
        """Decode each photo once; cache the backbone stem for it and its mirror image.
        Ranks share the work and then all hold the same items and problems."""
        self.model.eval()
        done = distributed.map_shared(
            lambda i: prepare_item(self, samples[i]), len(samples), on_item
        )
        return [d for d in done if isinstance(d, Item)], [d for d in done if isinstance(d, str)]

    def features(
        self, model: CropScorer, item: Item, flip: bool = False, train: bool = False
    ) -> ImageFeatures:
        """The heads' input for one photo (see :func:`~sacrop_cli.train.features.item_features`)."""
        return item_features(self, model, item, flip, train)

    # -- loop -------------------------------------------------------------------------------
    def steps_per_epoch(self, labelled: list[Item]) -> int:
        return math.ceil(len(labelled) / self.cfg.images_per_step)

    def train_epoch(
        self,
        labelled: list[Item],
        unlabelled: list[Item],
        on_step: Callable[[dict[str, float]], None] | None = None,
    ) -> dict[str, float]:
        cfg = self.cfg
        self.model.train()
        order = self.rng.permutation(len(labelled))
        use_cons = cfg.consistency and bool(unlabelled) and self.epoch >= cfg.consistency_warmup
        totals: dict[str, float] = {}
        steps = self.steps_per_epoch(labelled)
        for step in range(steps):
            batch = order[step * cfg.images_per_step : (step + 1) * cfg.images_per_step]
            # this rank's share of the means over the (global) batch
            parts: dict[str, Tensor] = {}
            for position, idx in enumerate(batch):
                mine = distributed.owns(position)
                for key, value in labelled_loss(self, labelled[idx], mine).items():
                    parts[key] = parts.get(key, 0) + value / len(batch)
            if use_cons:
                n_extra = max(1, len(batch) // 2)
                extra = self.rng.choice(
                    len(unlabelled), size=n_extra, replace=len(unlabelled) < n_extra
                )
                cons = [
                    unlabelled_loss(self, unlabelled[u], distributed.owns(position))
                    for position, u in enumerate(extra)
                ]
                if any(c is not None for c in cons):
                    parts["cons"] = sum(c for c in cons if c is not None) / len(extra)
            self.optimizer.zero_grad(set_to_none=True)
            if parts:  # a rank may have no photo of a short last step
                sum(parts.values()).backward()
            distributed.sum_gradients(self.params)
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            losses = distributed.sum_values({k: float(v.detach()) for k, v in parts.items()})
            for key, value in losses.items():
                totals[key] = totals.get(key, 0.0) + value / steps
            if on_step:
                on_step(losses)
        self.epoch += 1
        return totals

    def eval_model(self) -> CropScorer:
        return self.ema.module if self.ema is not None else self.model

    def validate(self, items: list[Item]) -> dict[str, float]:
        """The validation figures of the weights this run would keep (the EMA's, if any)."""
        return validate(self, self.eval_model(), items)

    # -- checkpoints ------------------------------------------------------------------------
    def train_state(self) -> dict:
        return {
            "epoch": self.epoch,
            "optimizer": self.optimizer.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "history": self.history,
            "best": self.best,
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }

    def load_train_state(self, state: dict) -> None:
        self.epoch = state["epoch"]
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.history, self.best = state["history"], state["best"]
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])


def selection_key(metrics: dict[str, float]) -> float:
    """Higher is better: validation IoU (FCDB) or mean Acc5 (GAICD)."""
    return metrics.get("iou", metrics.get("acc5", 0.0))


def config_from(cfg: TrainConfig) -> ScorerConfig:
    return ScorerConfig(spatial=cfg.spatial)


def save_resumable(trainer: Trainer, path: Path, meta: dict) -> Path:
    return save_checkpoint(
        path, trainer.model, meta, half=False, extra={"train_state": trainer.train_state()}
    )


def load_resumable(path: Path) -> tuple[dict, dict, dict]:
    """(state_dict, meta, train_state) of a resumable checkpoint written by
    :func:`save_resumable`."""
    ckpt = read_checkpoint(path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if "train_state" not in payload:
        raise SacropError(f"{path}: not a resumable checkpoint (no training state)")
    return ckpt.state_dict, ckpt.meta, payload["train_state"]


def training_meta(
    cfg: TrainConfig, model: CropScorer, data: dict, command: str, metrics: dict | None
) -> dict:
    return make_meta(
        model,
        training={"config": asdict(cfg), "data": data, "command": command},
        lambda_cls=cfg.lambda_cls,
        delta=cfg.delta,
        metrics=metrics or {},
    )


@dataclass
class TrainData:
    """What to train on: labelled samples split into train/val, and unlabelled photos."""

    train: list[LabelledImage]
    val: list[LabelledImage]
    unlabelled: list[LabelledImage]
    description: dict


class Reporter:
    """Callbacks the CLI fills in with a progress bar; the default prints nothing."""

    def stage(self, name: str, total: int) -> None: ...
    def advance(self, info: dict[str, float] | None = None) -> None: ...
    def epoch_done(
        self, epoch: int, losses: dict[str, float], val: dict[str, float], best: bool
    ) -> None: ...
    def message(self, text: str) -> None: ...


def build_model(cfg: TrainConfig, backbone_weights: Path | None) -> CropScorer:
    """A fresh network with an ImageNet-initialised backbone (see backbones.imagenet_weights)."""
    torch.manual_seed(cfg.seed)
    model = CropScorer(config_from(cfg))
    model.backbone.load_imagenet(imagenet_weights(backbone_weights))
    return model


def run_training(
    data: TrainData,
    cfg: TrainConfig,
    out: Path,
    *,
    command: str,
    backbone_weights: Path | None = None,
    resume: Path | None = None,
    reporter: Reporter | None = None,
) -> dict:
    """Train, validate every epoch, keep the best weights in ``out`` (float16, shipping format).

    A resumable checkpoint (float32 + optimiser state) is kept beside it as ``<out>.resume.pt``
    after every epoch and on Ctrl-C, and removed when the run completes; ``resume`` continues
    from one. Returns a summary dict.

    In a process group every rank calls this with the same arguments; rank 0 alone validates,
    reports and writes files, and every rank returns once they are written.
    """
    main = distributed.is_main()
    rep = (reporter or Reporter()) if main else Reporter()
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, backbone_weights)
    trainer = Trainer(model, cfg)
    resume_path = out.with_name(out.name + ".resume.pt")
    if resume is not None:
        state, _, train_state = load_resumable(resume)
        model.load_state_dict({k: v.float() for k, v in state.items()})
        trainer.load_train_state(train_state)
        rep.message(f"resumed from {resume} at epoch {trainer.epoch}")
    started = time.perf_counter()
    prepared = _prepare_all(trainer, data, rep)
    prep_seconds = time.perf_counter() - started

    def meta(metrics: dict | None) -> dict:
        return training_meta(cfg, trainer.eval_model(), data.description, command, metrics)

    interrupted = False
    try:
        while trainer.epoch < cfg.epochs:
            rep.stage(
                f"epoch {trainer.epoch + 1}/{cfg.epochs}",
                trainer.steps_per_epoch(prepared["train"]),
            )
            losses, val, is_best = _epoch(trainer, prepared, rep, main)
            if is_best and main:
                save_checkpoint(
                    out, trainer.eval_model(), meta({"validation": val, "epoch": trainer.epoch})
                )
            rep.epoch_done(trainer.epoch, losses, val, is_best)
            if main:
                save_resumable(trainer, resume_path, meta(None))
    except KeyboardInterrupt:
        # no collective here: the other ranks may have stopped already
        interrupted = True
        if main:
            save_resumable(trainer, resume_path, meta(None))
        rep.message(f"interrupted: resume with --resume {resume_path}")
    seconds = time.perf_counter() - started
    if not interrupted and main and out.is_file():
        _keep_timing(out, seconds, prep_seconds, trainer.history)
        resume_path.unlink(missing_ok=True)  # the run is complete: nothing to resume
    if not interrupted:
        distributed.barrier()
    return {
        "out": str(out),
        "resume": str(resume_path),
        "interrupted": interrupted,
        "epochs": trainer.epoch,
        "best": trainer.best,
        "seconds": seconds,
        "history": trainer.history,
        "n_train": len(prepared["train"]),
        "n_val": len(prepared["val"]),
        "n_unlabelled": len(prepared["unlabelled"]),
    }


def _prepare_all(trainer: Trainer, data: TrainData, rep: Reporter) -> dict[str, list]:
    """The items of each part of the data (their features cached with a frozen backbone)."""
    prepared: dict[str, list] = {}
    for name, samples in (
        ("train", data.train),
        ("val", data.val),
        ("unlabelled", data.unlabelled),
    ):
        if not samples:
            prepared[name] = []
            continue
        caching = trainer.cfg.freeze_backbone
        rep.stage(f"caching {name} features" if caching else f"loading {name}", len(samples))
        prepared[name], problems = trainer.prepare(samples, on_item=rep.advance)
        for line in problems:
            rep.message(f"skipped {line}")
    return prepared


def _epoch(
    trainer: Trainer, prepared: dict[str, list], rep: Reporter, main: bool
) -> tuple[dict, dict, bool]:
    """One epoch and its validation, recorded in the history: the losses, the validation
    figures, and whether the epoch is the best so far."""
    losses = trainer.train_epoch(prepared["train"], prepared["unlabelled"], on_step=rep.advance)
    # every rank records it, so that all keep the same history
    val = distributed.from_main(
        trainer.validate(prepared["val"]) if prepared["val"] and main else {}
    )
    record = {"epoch": trainer.epoch, "losses": losses, "val": val}
    trainer.history.append(record)
    is_best = (
        trainer.best is None or not val or selection_key(val) > selection_key(trainer.best["val"])
    )
    if is_best:
        trainer.best = record
    return losses, val, is_best


def _keep_timing(out: Path, seconds: float, prep_seconds: float, history: list) -> None:
    """Record the whole run's timing and history in the kept checkpoint."""
    best = read_checkpoint(out)
    best.meta["training"]["seconds"] = round(seconds, 1)
    best.meta["training"]["feature_cache_seconds"] = round(prep_seconds, 1)
    best.meta["training"]["history"] = history
    kept = CropScorer(best.config)
    kept.load_state_dict({k: v.float() for k, v in best.state_dict.items()})
    save_checkpoint(out, kept, best.meta)
