"""Which evaluated photos trained the weights: from their recorded names, or the labelled folder."""

from __future__ import annotations

import pytest
from helpers import FIXTURES

from sacrop_cli.train.evaluate import training_photos

# the three photos of the FCDB fixture
A, B, C = (
    "16350626170_6b94890ff4_c.jpg",
    "16418163141_4a15e04365_c.jpg",
    "20935855725_e93b4d498c_c.jpg",
)


def _meta(**data) -> dict:
    return {"training": {"data": data}}


def test_recorded_training_names_are_matched_by_name():
    meta = _meta(train_names=[A, "other.jpg"], val_names=[B])
    assert training_photos(meta, [A, B, C]) == {A}


def test_without_names_the_labelled_folder_less_its_validation_photos():
    labelled = {"kind": "fcdb", "path": str(FIXTURES / "fcdb")}
    meta = _meta(labelled=labelled, n_train=2, val_names=[C])
    assert training_photos(meta, [A, C, "x.jpg"]) == {A}
    assert training_photos(meta, [C]) == set()


@pytest.mark.parametrize(
    "data",
    [
        # a folder that is not as it was (another count of training photos)
        {
            "labelled": {"kind": "fcdb", "path": str(FIXTURES / "fcdb")},
            "n_train": 3,
            "val_names": [C],
        },
        {
            "labelled": {"kind": "fcdb", "path": str(FIXTURES / "missing")},
            "n_train": 2,
            "val_names": [C],
        },
        {
            "labelled": {"kind": "gaicd", "path": str(FIXTURES / "gaicd")},
            "n_train": 2,
            "val_names": [],
        },
        "none (random, tests)",
    ],
)
def test_unknown_when_nothing_tells(data):
    assert training_photos({"training": {"data": data}}, [A, B, C]) is None
    assert training_photos({}, [A]) is None
