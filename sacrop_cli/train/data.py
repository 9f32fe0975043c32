"""A training run's photos, read from dataset folders: the labelled set split into training and
validation, and the unlabelled photos for the rank-consistency loss.

What ``sacrop train`` does before training, as a function scripts and notebooks can call.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sacrop_cli.errors import SacropError
from sacrop_cli.train.datasets import read_fcdb, read_gaicd, read_unlabelled, split_items
from sacrop_cli.train.trainer import TrainData


def build_train_data(
    *,
    fcdb: Path | None = None,
    gaicd: Path | None = None,
    unlabelled: Sequence[Path] = (),
    transductive: Sequence[Path] = (),
    val_split: str = "0.15",
    split_seed: int = 0,
    limit: int | None = None,
) -> tuple[TrainData, list[str]]:
    """The data of a run and the problems met reading it (one line each, to warn about).

    Exactly one of ``fcdb`` and ``gaicd`` is read; ``val_split`` is the held-out fraction, or
    ``"test"`` for GAICD's own test split. ``limit`` keeps the first training photos only.
    """
    if (fcdb is None) == (gaicd is None):
        raise SacropError("give exactly one labelled dataset: FCDB or GAICD")
    if fcdb is not None:
        if val_split == "test":
            raise SacropError("val_split 'test' is only for GAICD; give a fraction")
        read = read_fcdb(fcdb)
        train_set, val_set = split_items(read.images, float(val_split), split_seed)
    else:
        read = read_gaicd(gaicd, "train")
        if val_split == "test":
            train_set, val_set = read.images, read_gaicd(gaicd, "test").images
        else:
            train_set, val_set = split_items(read.images, float(val_split), split_seed)
    problems = list(read.problems)
    unl = []
    for folder in (*unlabelled, *transductive):
        got = read_unlabelled(folder)
        unl.extend(got.images)
        problems.extend(got.problems)
    if limit is not None:
        train_set = train_set[:limit]
    if not train_set:
        raise SacropError("no usable training photos")
    description = {
        "labelled": {"kind": "fcdb" if fcdb else "gaicd", "path": str(fcdb or gaicd)},
        "n_train": len(train_set),
        "n_val": len(val_set),
        "val_split": val_split,
        "split_seed": split_seed,
        "val_names": sorted(s.name for s in val_set),
        "train_names": sorted(s.name for s in train_set),
        "unlabelled": [str(p) for p in unlabelled],
        "transductive": [str(p) for p in transductive],
        "n_unlabelled": len(unl),
    }
    return TrainData(train_set, val_set, unl, description), problems
