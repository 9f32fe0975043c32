"""`sacrop eval`: results on stdout, progress and warnings on stderr, training photos counted."""

from __future__ import annotations

import json

import pytest
from helpers import FIXTURES, DistanceEngine, run

TRAINED = ["16350626170_6b94890ff4_c.jpg", "16418163141_4a15e04365_c.jpg"]


@pytest.fixture
def trained_cropper(monkeypatch):
    """Every Cropper scores with a DistanceEngine whose metadata says that two of the three
    FCDB fixture photos trained it."""
    from sacrop_cli import api

    engine = DistanceEngine((0, 0, 100, 100), 0.5)
    data = {"train_names": TRAINED, "val_names": ["20935855725_e93b4d498c_c.jpg"]}
    engine.meta = {**engine.meta, "training": {"data": data}}
    cropper = api.Cropper(engine=engine, faces=False)
    monkeypatch.setattr(api.ModelSpec, "load", lambda spec: cropper)


def test_training_photos_are_warned_about_and_counted(trained_cropper, tmp_path):
    report = tmp_path / "eval.json"
    res = run("eval", "--fcdb", FIXTURES / "fcdb", "--json", report)
    assert res.exit_code == 0, res.stderr
    assert res.stderr.splitlines() == [
        f"warning: {FIXTURES / 'fcdb'}: 2 of its 3 photos trained distance: their figures "
        "flatter it; evaluate on held-out photos"
    ]
    table = [line.strip("│ ").split() for line in res.stdout.splitlines()[4:-1]]
    assert [row[0] for row in table] == [
        "iou", "disp", "n", "iou_told_ratio", "pairs_decisive", "pairs_all",
        "n_pairs_decisive", "n_pairs_all", "training_photos",
    ]  # fmt: skip
    assert table[2][-1] == "3" and table[-1][-1] == "2"
    saved = json.loads(report.read_text())
    assert saved["training_photos"] == TRAINED and saved["summary"]["training_photos"] == 2
    # -q: the same results on stdout, the warning gone
    quiet = run("eval", "--fcdb", FIXTURES / "fcdb", "-q")
    assert quiet.stderr == "" and quiet.stdout == res.stdout
