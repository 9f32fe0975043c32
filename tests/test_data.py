"""A training run's data built from dataset folders, as `sacrop train` does."""

from __future__ import annotations

import pytest
from helpers import EXAMPLES, FIXTURES

from sacrop_cli.errors import SacropError
from sacrop_cli.train.data import build_train_data


def test_fcdb_split_unlabelled_and_description():
    data, problems = build_train_data(
        fcdb=FIXTURES / "fcdb", unlabelled=[EXAMPLES], val_split="0.34", split_seed=0
    )
    assert problems == []
    assert (len(data.train), len(data.val)) == (2, 1)
    assert len(data.unlabelled) == len(list(EXAMPLES.glob("*.jpg")))
    assert data.description["labelled"] == {"kind": "fcdb", "path": str(FIXTURES / "fcdb")}
    assert data.description["val_names"] == [s.name for s in data.val]
    assert data.description["train_names"] == sorted(s.name for s in data.train)
    assert sorted(data.description["train_names"] + data.description["val_names"]) == [
        p.name for p in sorted((FIXTURES / "fcdb" / "images").iterdir())
    ]
    assert (data.description["n_train"], data.description["n_val"]) == (2, 1)


def test_limit_keeps_the_first_training_photos():
    full, _ = build_train_data(fcdb=FIXTURES / "fcdb", val_split="0")
    data, _ = build_train_data(fcdb=FIXTURES / "fcdb", val_split="0", limit=1)
    assert len(full.train) == 3
    assert [s.name for s in data.train] == [full.train[0].name]
    assert data.description["n_train"] == 1
    assert data.description["train_names"] == [full.train[0].name]


def test_one_labelled_dataset_and_test_only_for_gaicd():
    with pytest.raises(SacropError, match="exactly one"):
        build_train_data()
    with pytest.raises(SacropError, match="only for GAICD"):
        build_train_data(fcdb=FIXTURES / "fcdb", val_split="test")
