"""Every choice of a training run, in one object stored in the checkpoint's metadata."""

from __future__ import annotations

from dataclasses import dataclass


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
