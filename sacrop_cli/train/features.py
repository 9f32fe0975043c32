"""Training photos ready for the heads: their labels as targets (:class:`Item`), and the feature
cache: with a frozen backbone its stem runs once per photo and mirror image, and only the stages
after it run at every step.

Boxes inside an :class:`Item` are already in network-input pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from sacrop_cli.boxes import box_iou_matrix
from sacrop_cli.candidates import gaic_grid
from sacrop_cli.errors import SacropError
from sacrop_cli.io.imageio import open_for_analysis
from sacrop_cli.model.format import DEFAULT_INPUT
from sacrop_cli.model.network import CropScorer, ImageFeatures
from sacrop_cli.model.preprocess import boxes_to_rois, image_to_array, input_size
from sacrop_cli.train.config import TrainConfig
from sacrop_cli.train.datasets import LabelledImage
from sacrop_cli.train.losses import MOS_MEAN, MOS_STD


class Context(Protocol):
    """What the steps of training read: the network, the choices, the device and the draws."""

    model: CropScorer
    cfg: TrainConfig
    device: torch.device
    rng: np.random.Generator


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


def jitter(image: Image.Image) -> Image.Image:
    """The colour augmentation of photos when the whole backbone is trained."""
    from torchvision.transforms import ColorJitter

    return ColorJitter(0.2, 0.2, 0.2, 0.02)(image)


def to_net(boxes: np.ndarray, photo: tuple[int, int], net: tuple[int, int]) -> Tensor:
    """Photo-pixel boxes ``[N, 4]`` -> network-input pixels ``[N, 4]``."""
    return torch.from_numpy(boxes_to_rois(boxes, photo, net)[:, 1:])


def as_rois(boxes: Tensor, device: torch.device) -> Tensor:
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
        to_net(boxes, (w, h), net),
        targets,
        to_net(sample.pair_boxes, (w, h), net).reshape(-1, 2, 4),
        torch.as_tensor(q),
        votes,
        None if sample.best is None else np.asarray(sample.best, np.float64),
        None if sample.mos is None else np.asarray(sample.mos, np.float64),
    )


def prepare_item(ctx: Context, sample: LabelledImage) -> Item | str:
    """The item of one photo, its backbone stem cached for it and its mirror image when the
    backbone is frozen; or a line saying why the photo is skipped."""
    spec = DEFAULT_INPUT
    try:
        image, _ = open_for_analysis(sample.path, spec["short_side"])
    except (SacropError, OSError) as exc:
        return f"{sample.name}: {exc}"
    item = make_item(sample, spec)
    x = torch.from_numpy(image_to_array(image, item.net_size, spec))
    if ctx.cfg.freeze_backbone:
        with torch.inference_mode():
            both = torch.stack([x, x.flip(-1)]).to(ctx.device)
            low, mid = ctx.model.backbone.stem(both)
            maps = [low.half()] if ctx.cfg.tune_mid else [low.half(), mid.half()]
            if not (ctx.cfg.tune_top or ctx.cfg.tune_mid):
                maps.append(ctx.model.backbone.top(mid).half())
        item.stem = [tuple(m[k].cpu() for m in maps) for k in range(2)]
    else:
        item.image = image.resize(item.net_size)
    return item


def item_features(
    ctx: Context, model: CropScorer, item: Item, flip: bool = False, train: bool = False
) -> ImageFeatures:
    """The heads' input for one photo: from the cached maps (the stages after them run here,
    with gradients when they are trained), or from the image through the whole backbone."""
    backbone = model.backbone
    if ctx.cfg.freeze_backbone:
        maps = [t.to(ctx.device).float()[None] for t in item.stem[int(flip)]]
        with torch.set_grad_enabled(train and ctx.cfg.tune_mid):
            if len(maps) == 1:
                maps.append(backbone.mid(maps[0]))
        with torch.set_grad_enabled(train and (ctx.cfg.tune_top or ctx.cfg.tune_mid)):
            if len(maps) == 2:
                maps.append(backbone.top(maps[1]))
        return model.image_features(*maps, item.net_size)
    image = jitter(item.image) if train else item.image
    x = torch.from_numpy(image_to_array(image, item.net_size))
    x = (x.flip(-1) if flip else x)[None].to(ctx.device)
    return model.image_features(*backbone(x), item.net_size)
