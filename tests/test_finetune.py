"""Learning from reviews on photos encoded once: the pairs move the scores, the checkpoint is
written whole or not at all, photos missing or resized are skipped and counted."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import numpy as np
from helpers import EXAMPLES
from PIL import Image

torch = pytest.importorskip("torch")

from sacrop_cli.io.imageio import open_for_analysis  # noqa: E402
from sacrop_cli.model.checkpoint import read_checkpoint  # noqa: E402
from sacrop_cli.model.format import DEFAULT_INPUT  # noqa: E402
from sacrop_cli.model.network import build_scorer  # noqa: E402
from sacrop_cli.model.preprocess import boxes_to_rois, image_to_array, input_size  # noqa: E402
from sacrop_cli.model.registry import resolve_weights  # noqa: E402
from sacrop_cli.train.finetune import FinetuneConfig, learn  # noqa: E402
from sacrop_cli.train.reviews import Choice, NothingToLearn, Pair, ReviewedPhoto  # noqa: E402
from sacrop_cli.train.trainer import Reporter  # noqa: E402

COFFEE = EXAMPLES / "coffee.jpg"
SMALL, LARGE = (150, 100, 450, 300), (0, 0, 560, 380)  # inside coffee.jpg's 600 x 400


@functools.cache
def base():
    return read_checkpoint(resolve_weights(None, kind="torch", allow_download=False))


def photo(source: Path, size=(600, 400)) -> ReviewedPhoto:
    pair = Pair("any", SMALL, LARGE)
    return ReviewedPhoto(source, size, [pair], [Choice("any", SMALL, True)])


def gap(checkpoint) -> float:
    """score(SMALL) - score(LARGE) on coffee.jpg by the network of ``checkpoint``."""
    model = build_scorer(checkpoint)
    image, full = open_for_analysis(COFFEE, DEFAULT_INPUT["short_side"])
    net = input_size(*full, DEFAULT_INPUT)
    x = torch.from_numpy(image_to_array(image, net, DEFAULT_INPUT))[None]
    rois = torch.from_numpy(boxes_to_rois(np.array([SMALL, LARGE], np.float32), full, net))
    with torch.no_grad():
        s = model(x, rois.float())
    return float(s[0] - s[1])


def test_the_pairs_move_the_scores_and_the_metadata_says_from_what(tmp_path: Path) -> None:
    out = tmp_path / "mine.pt"
    before = gap(base())
    learned = learn(base(), [photo(COFFEE)], FinetuneConfig(epochs=20), out, {"note": "x"})
    assert (learned.n_photos, learned.n_pairs, learned.skipped) == (1, 1, {})
    after = read_checkpoint(out)
    assert gap(after) > before + 0.5
    training = after.meta["training"]
    assert training["kind"] == "reviews"
    assert training["note"] == "x"
    assert training["pairs"] == 1
    assert training["finetune"]["epochs"] == 20
    # only the embedding and the regression moved
    first = base().state_dict
    moved = {k for k, v in after.state_dict.items() if not torch.equal(v, first[k])}
    assert moved and all(k.startswith(("embed.", "regress.")) for k in moved)


def test_missing_and_resized_photos_are_skipped_and_counted(tmp_path: Path) -> None:
    resized = tmp_path / "resized.jpg"
    Image.open(COFFEE).resize((300, 200)).save(resized)
    photos = [photo(tmp_path / "gone.jpg"), photo(resized), photo(COFFEE)]
    learned = learn(base(), photos, FinetuneConfig(epochs=1), tmp_path / "m.pt", {})
    assert learned.n_photos == 1
    assert learned.skipped == {"missing": 1, "size changed": 1}


def test_nothing_left_to_learn_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(NothingToLearn):
        learn(base(), [photo(tmp_path / "gone.jpg")], FinetuneConfig(), tmp_path / "m.pt", {})
    assert list(tmp_path.iterdir()) == []


class _Interrupted(Reporter):
    def advance(self, info=None) -> None:
        if info:  # a learning step
            raise KeyboardInterrupt


def test_ctrl_c_leaves_no_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(KeyboardInterrupt):
        learn(base(), [photo(COFFEE)], FinetuneConfig(), folder / "m.pt", {}, _Interrupted())
    assert list(folder.iterdir()) == []
