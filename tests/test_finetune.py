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
from sacrop_cli.train.finetune import (  # noqa: E402
    FinetuneConfig,
    batch_loss,
    learn,
    over_grid,
    prepare,
)
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
    # the review pair, and SMALL over each of coffee.jpg's 83 grid candidates (none itself)
    assert (learned.n_photos, learned.n_pairs, learned.skipped) == (1, 84, {})
    after = read_checkpoint(out)
    assert gap(after) > before + 0.5
    training = after.meta["training"]
    assert training["kind"] == "reviews"
    assert training["note"] == "x"
    assert training["pairs"] == 84
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


def test_pairs_against_boxes_around_weigh_around_weight() -> None:
    model = build_scorer(base())
    mid = (100, 60, 500, 340)
    pairs = [Pair("any", SMALL, LARGE), Pair("any", SMALL, mid, around=True)]
    item = prepare(model, ReviewedPhoto(COFFEE, (600, 400), pairs, []))
    cfg = FinetuneConfig(margin=10.0, keep_weight=0.0, around_weight=0.25)
    with torch.no_grad():
        got = batch_loss(model, [item], cfg)
        s = model.score_embeddings(model.embed(item.fused))
    grid = item.n_grid  # the pair boxes follow the grid: SMALL, LARGE, mid
    assert item.better.tolist() == [grid, grid] and item.worse.tolist() == [grid + 1, grid + 2]
    h_review, h_around = 10.0 - (s[grid] - s[grid + 1]), 10.0 - (s[grid] - s[grid + 2])
    want = (h_review + 0.25 * h_around) / 1.25
    assert float(got["pairs"]) == pytest.approx(float(want), rel=1e-5)
    assert float(got["keep"]) == 0.0


def test_a_free_crop_changed_beats_the_grid_candidates_not_itself() -> None:
    grid = [[0, 0, 600, 400], [150, 100, 450, 300], [152, 100, 452, 300]]  # IoU 0.25, 1, 0.987
    changed = ReviewedPhoto(COFFEE, (600, 400), [], [Choice("any", SMALL, True)])
    assert over_grid(changed, grid) == [Pair("any", SMALL, (0, 0, 600, 400), around=True)]
    kept = ReviewedPhoto(COFFEE, (600, 400), [], [Choice("any", SMALL, False)])
    fixed = ReviewedPhoto(COFFEE, (600, 400), [], [Choice("3:2", SMALL, True)])
    assert over_grid(kept, grid) == over_grid(fixed, grid) == []
