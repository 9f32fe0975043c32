"""The semi-supervised rank-consistency trainer.

One loop serves three kinds of data, all turned into :class:`Item` here:
- GAICD: annotated crops with MOS (normalised as (MOS - 2.95) / 0.8); classifier pairs from MOS;
- FCDB: one human crop and voted pairs; the grid candidates get pseudo-scores from their IoU
  with the human crop (standardised per image); classifier pairs from the votes and from
  clear IoU differences; a margin hinge on the decisive voted pairs;
- unlabelled photos: L_cons on grid candidates, driven by the classifier's verdicts.

With ``freeze_backbone`` the backbone's stem (strides 8 and 16) runs once per photo and flip,
and its output is cached; the stride-32 stage is fine-tuned on top of it when ``tune_top``.
Boxes inside an :class:`Item` are already in network-input pixels.

In several processes (see :mod:`sacrop_cli.distributed`) each rank computes the losses of every
world-th photo of a step and makes, for the others' photos, only their random draws: every rank's
generators then stay where a single process's would be, and a step is the single process's step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from sacrop_cli import distributed
from sacrop_cli.boxes import box_iou, box_iou_matrix, hflip, ratio_of
from sacrop_cli.candidates import candidates_for, gaic_grid
from sacrop_cli.checkpoint import make_meta, read_checkpoint, save_checkpoint
from sacrop_cli.datasets import LabelledImage
from sacrop_cli.errors import SacropError
from sacrop_cli.losses import (
    MOS_MEAN,
    MOS_STD,
    classification_loss,
    consistency_loss,
    margin_ranking,
    regression_loss,
    upper_pairs,
)
from sacrop_cli.metrics import displacement, gaicd_image_metrics, pair_agreement, summarise_gaicd
from sacrop_cli.network import CropScorer, ScorerConfig
from sacrop_cli.preprocess import DEFAULT_INPUT, boxes_to_rois, image_to_array, input_size


@dataclass
class TrainConfig:
    """Every training choice; stored in the checkpoint's metadata."""

    epochs: int = 3
    lr: float = 2e-4
    weight_decay: float = 1e-4
    crops_per_image: int = 64
    images_per_step: int = 8
    unlabelled_crops: int = 24
    seed: int = 0
    lambda_cls: float = 1.0
    delta: float = 0.1
    consistency: bool = True
    consistency_warmup: int = 1  # epochs of labelled-only training before L_cons starts
    rank_weight: float = 3.0  # margin hinge on decisive human-voted pairs (FCDB)
    freeze_backbone: bool = True
    tune_top: bool = True
    tune_mid: bool = False  # also fine-tune the stride-16 stage (only the stride-8 maps are cached)
    spatial: bool = True
    ema: float = 0.99  # exponential moving average of the weights (0: off)
    val_split: float = 0.15
    split_seed: int = 0
    device: str = "cpu"


@dataclass
class Item:
    """One training photo, ready for the heads (boxes in network-input pixels)."""

    name: str
    net_size: tuple[int, int]
    photo_size: tuple[int, int]
    boxes: Tensor  # [N, 4] candidates
    targets: Tensor | None  # [N] regression targets (None: unlabelled)
    pair_boxes: Tensor  # [P, 2, 4] voted pairs
    pair_q: Tensor  # [P] P(first is better) from votes
    pair_votes: np.ndarray  # [P, 2] the votes themselves (for validation)
    best: np.ndarray | None = None  # FCDB human crop, photo pixels
    mos: np.ndarray | None = None
    stem: list[tuple[Tensor, ...]] = field(default_factory=list)  # cached [orig, flipped]
    image: Image.Image | None = None  # resized RGB photo, when the backbone is trained


def _jitter(image: Image.Image) -> Image.Image:
    """The colour augmentation of photos when the whole backbone is trained."""
    from torchvision.transforms import ColorJitter

    return ColorJitter(0.2, 0.2, 0.2, 0.02)(image)


def _to_net(boxes: np.ndarray, photo: tuple[int, int], net: tuple[int, int]) -> Tensor:
    """Photo-pixel boxes ``[N, 4]`` -> network-input pixels ``[N, 4]``."""
    return torch.from_numpy(boxes_to_rois(boxes, photo, net)[:, 1:])


def _rois(boxes: Tensor, device: torch.device) -> Tensor:
    """Boxes ``[N, 4]`` of the single image of a step -> rois ``[N, 5]`` on ``device``."""
    return torch.cat([torch.zeros(len(boxes), 1), boxes], 1).to(device)


def make_item(sample: LabelledImage, spec: dict = DEFAULT_INPUT) -> Item:
    """Labels of one sample as training targets (see the module docstring)."""
    w, h = sample.size
    net = input_size(w, h, spec)
    if sample.mos is not None and len(sample.mos):
        boxes = np.asarray(sample.crops, np.float32)
        targets = torch.as_tensor((np.asarray(sample.mos, np.float32) - MOS_MEAN) / MOS_STD)
    elif sample.best is not None:
        boxes = np.concatenate([gaic_grid(w, h), sample.best[None].astype(np.int64)]).astype(
            np.float32
        )
        iou = box_iou_matrix(boxes, sample.best[None])[:, 0]
        targets = torch.as_tensor(((iou - iou.mean()) / max(iou.std(), 0.05)).astype(np.float32))
    else:
        boxes, targets = gaic_grid(w, h).astype(np.float32), None
    votes = np.asarray(sample.pair_votes, np.float32).reshape(-1, 2)
    q = votes[:, 0] / np.maximum(votes.sum(1), 1)
    return Item(
        sample.name,
        net,
        (w, h),
        _to_net(boxes, (w, h), net),
        targets,
        _to_net(sample.pair_boxes, (w, h), net).reshape(-1, 2, 4),
        torch.as_tensor(q),
        votes,
        None if sample.best is None else np.asarray(sample.best, np.float64),
        None if sample.mos is None else np.asarray(sample.mos, np.float64),
    )


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
            lambda i: self._prepare_one(samples[i]), len(samples), on_item
        )
        return [d for d in done if isinstance(d, Item)], [d for d in done if isinstance(d, str)]

    def _prepare_one(self, sample: LabelledImage) -> Item | str:
        """The item, or a line saying why the photo is skipped."""
        from sacrop_cli.imageio import open_for_analysis

        spec = DEFAULT_INPUT
        try:
            image, _ = open_for_analysis(sample.path, spec["short_side"])
        except (SacropError, OSError) as exc:
            return f"{sample.name}: {exc}"
        item = make_item(sample, spec)
        x = torch.from_numpy(image_to_array(image, item.net_size, spec))
        if self.cfg.freeze_backbone:
            with torch.inference_mode():
                both = torch.stack([x, x.flip(-1)]).to(self.device)
                low, mid = self.model.backbone.stem(both)
                maps = [low.half()] if self.cfg.tune_mid else [low.half(), mid.half()]
                if not (self.cfg.tune_top or self.cfg.tune_mid):
                    maps.append(self.model.backbone.top(mid).half())
            item.stem = [tuple(m[k].cpu() for m in maps) for k in range(2)]
        else:
            item.image = image.resize(item.net_size)
        return item

    def features(self, model: CropScorer, item: Item, flip: bool = False, train: bool = False):
        """The heads' input for one photo: from the cached maps (the stages after them run here,
        with gradients when they are trained), or from the image through the whole backbone."""
        backbone = model.backbone
        if self.cfg.freeze_backbone:
            maps = [t.to(self.device).float()[None] for t in item.stem[int(flip)]]
            with torch.set_grad_enabled(train and self.cfg.tune_mid):
                if len(maps) == 1:
                    maps.append(backbone.mid(maps[0]))
            with torch.set_grad_enabled(train and (self.cfg.tune_top or self.cfg.tune_mid)):
                if len(maps) == 2:
                    maps.append(backbone.top(maps[1]))
            return model.image_features(*maps, item.net_size)
        image = _jitter(item.image) if train else item.image
        x = torch.from_numpy(image_to_array(image, item.net_size))
        x = (x.flip(-1) if flip else x)[None].to(self.device)
        return model.image_features(*backbone(x), item.net_size)

    # -- losses ----------------------------------------------------------------------------
    def _labelled_loss(self, item: Item, mine: bool = True) -> dict[str, Tensor]:
        """L_reg, lambda_cls * L_cls and the pair hinge of one photo; ``{}`` when another rank
        computes it (``mine`` false), after the same random draws."""
        flip = bool(self.rng.random() < 0.5)
        w = item.net_size[0]
        n = len(item.boxes)
        pick = torch.as_tensor(
            self.rng.choice(n, size=min(n, self.cfg.crops_per_image), replace=False)
        )
        boxes = item.boxes[pick]
        pair_boxes = item.pair_boxes
        if flip:
            boxes, pair_boxes = hflip(boxes, w), hflip(pair_boxes, w)
        all_boxes = torch.cat([boxes, pair_boxes.reshape(-1, 4)])
        k = len(boxes)
        targets = item.targets[pick]
        # classifier pairs: clearly ordered candidates, plus the human-voted pairs
        i, j = upper_pairs(k)
        gap = targets[i] - targets[j]
        clear = gap.abs() > 0.5
        li, lj, lq = [i[clear]], [j[clear]], [(gap[clear] > 0).float()]
        p0 = torch.arange(k, k + 2 * len(pair_boxes), 2)
        if len(pair_boxes):
            li.append(p0)
            lj.append(p0 + 1)
            lq.append(item.pair_q)
        ci, cj, cq = torch.cat(li), torch.cat(lj), torch.cat(lq)
        if len(ci) > 256:
            keep = torch.as_tensor(self.rng.choice(len(ci), 256, replace=False))
            ci, cj, cq = ci[keep], cj[keep], cq[keep]
        if not mine:
            self._draw_for_others(len(all_boxes))
            return {}
        feats = self.features(self.model, item, flip, train=True)
        rois = _rois(all_boxes, self.device)
        emb = self.model.embed_crops(feats, rois)
        scores = self.model.score_embeddings(emb)
        out = {"reg": regression_loss(scores[:k], targets.to(self.device))}
        if len(pair_boxes):
            decisive = (item.pair_q - 0.5).abs() >= 0.3
            if decisive.any() and self.cfg.rank_weight > 0:
                first_wins = (item.pair_q[decisive] > 0.5).to(self.device)
                s0, s1 = scores[p0[decisive]], scores[p0[decisive] + 1]
                better, worse = torch.where(first_wins, s0, s1), torch.where(first_wins, s1, s0)
                out["rank"] = self.cfg.rank_weight * margin_ranking(better, worse, self.cfg.delta)
        if len(ci):
            logits = self.model.compare(emb[ci], emb[cj])
            out["cls"] = self.cfg.lambda_cls * classification_loss(logits, cq.to(self.device))
        return out

    def _unlabelled_loss(self, item: Item, mine: bool = True) -> Tensor | None:
        """L_cons of one photo; None when another rank computes it, after the same draws."""
        flip = bool(self.rng.random() < 0.5)
        n = len(item.boxes)
        pick = torch.as_tensor(
            self.rng.choice(n, size=min(n, self.cfg.unlabelled_crops), replace=False)
        )
        boxes = item.boxes[pick]
        if flip:
            boxes = hflip(boxes, item.net_size[0])
        if not mine:
            self._draw_for_others(len(boxes))
            return None
        feats = self.features(self.model, item, flip, train=True)
        rois = _rois(boxes, self.device)
        emb = self.model.embed_crops(feats, rois)
        scores = self.model.score_embeddings(emb)
        i, j = upper_pairs(len(boxes), self.device)
        with torch.no_grad():
            verdicts = torch.sigmoid(self.model.compare(emb[i], emb[j]))
        return consistency_loss(scores, verdicts, self.cfg.delta)

    def _draw_for_others(self, n_scores: int) -> None:
        """The torch draws of a photo another rank computes (the colour jitter of its image, the
        dropout of its ``n_scores`` scores), made by the same calls on stand-ins of the same
        shapes: without them this rank's torch generator would fall out of step."""
        if not self.cfg.freeze_backbone:
            _jitter(Image.new("RGB", (1, 1)))
        with torch.no_grad():
            stand_in = torch.zeros(n_scores, self.model.config.embed_dim, device=self.device)
            self.model.score_embeddings(stand_in)

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
                for key, value in self._labelled_loss(labelled[idx], mine).items():
                    parts[key] = parts.get(key, 0) + value / len(batch)
            if use_cons:
                n_extra = max(1, len(batch) // 2)
                extra = self.rng.choice(
                    len(unlabelled), size=n_extra, replace=len(unlabelled) < n_extra
                )
                cons = [
                    self._unlabelled_loss(unlabelled[u], distributed.owns(position))
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

    @torch.inference_mode()
    def validate(self, items: list[Item]) -> dict[str, float]:
        """FCDB: top-1 of the free-ratio grid (IoU, Disp), IoU told the human crop's ratio,
        agreement with voted pairs. GAICD: Acc/SRCC/PCC, as the benchmarks define them."""
        model = self.eval_model().eval()
        ious, disps, ratio_ious, s0, s1, v0, v1, gaicd = [], [], [], [], [], [], [], []
        for item in items:
            feats = self.features(model, item)
            w, h = item.photo_size
            if item.best is not None:
                grid = gaic_grid(w, h)
                told = candidates_for(ratio_of(item.best), w, h)
                boxes = np.concatenate([grid, told]).astype(np.float32)
                scores = self._score(model, feats, _to_net(boxes, (w, h), item.net_size))
                top = boxes[int(np.argmax(scores[: len(grid)]))]
                ious.append(box_iou(top, item.best))
                disps.append(displacement(top, item.best, w, h))
                top_told = boxes[len(grid) + int(np.argmax(scores[len(grid) :]))]
                ratio_ious.append(box_iou(top_told, item.best))
                if len(item.pair_boxes):
                    ps = self._score(model, feats, item.pair_boxes.reshape(-1, 4)).reshape(-1, 2)
                    s0.extend(ps[:, 0])
                    s1.extend(ps[:, 1])
                    v0.extend(item.pair_votes[:, 0])
                    v1.extend(item.pair_votes[:, 1])
            elif item.mos is not None:
                gaicd.append(gaicd_image_metrics(self._score(model, feats, item.boxes), item.mos))
        out: dict[str, float] = {}
        if ious:
            out.update(
                iou=float(np.mean(ious)),
                disp=float(np.mean(disps)),
                iou_told_ratio=float(np.mean(ratio_ious)),
            )
        if s0:
            agree = pair_agreement(np.array(s0), np.array(s1), np.array(v0), np.array(v1))
            out.update(pairs_decisive=agree["decisive"], pairs_all=agree["all"])
        if gaicd:
            summary = summarise_gaicd(gaicd)
            out.update(
                acc5=summary["acc5"],
                acc10=summary["acc10"],
                srcc=summary["srcc"],
                pcc=summary["pcc"],
            )
        return out

    def _score(self, model: CropScorer, feats, boxes: Tensor) -> np.ndarray:
        rois = _rois(boxes, self.device)
        return model.score_embeddings(model.embed_crops(feats, rois)).float().cpu().numpy()

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
    from sacrop_cli.backbones import imagenet_weights

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
    prepared = {}
    for name, samples in (
        ("train", data.train),
        ("val", data.val),
        ("unlabelled", data.unlabelled),
    ):
        if not samples:
            prepared[name] = []
            continue
        rep.stage(
            f"caching {name} features" if cfg.freeze_backbone else f"loading {name}", len(samples)
        )
        prepared[name], problems = trainer.prepare(samples, on_item=rep.advance)
        for line in problems:
            rep.message(f"skipped {line}")
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
            losses = trainer.train_epoch(
                prepared["train"], prepared["unlabelled"], on_step=rep.advance
            )
            # every rank records it, so that all keep the same history
            val = distributed.from_main(
                trainer.validate(prepared["val"]) if prepared["val"] and main else {}
            )
            record = {"epoch": trainer.epoch, "losses": losses, "val": val}
            trainer.history.append(record)
            is_best = (
                trainer.best is None
                or not val
                or selection_key(val) > selection_key(trainer.best["val"])
            )
            if is_best:
                trainer.best = record
                if main:
                    save_checkpoint(
                        out,
                        trainer.eval_model(),
                        meta({"validation": val, "epoch": trainer.epoch}),
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
        # record the whole run's timing in the kept checkpoint
        best = read_checkpoint(out)
        best.meta["training"]["seconds"] = round(seconds, 1)
        best.meta["training"]["feature_cache_seconds"] = round(prep_seconds, 1)
        best.meta["training"]["history"] = trainer.history
        kept = CropScorer(best.config)
        kept.load_state_dict({k: v.float() for k, v in best.state_dict.items()})
        save_checkpoint(out, kept, best.meta)
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
