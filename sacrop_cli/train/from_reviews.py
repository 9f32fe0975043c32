"""``sacrop train --reviews``, as a function: read the review files, hold some photos back, learn
from the others starting at the base weights, export the graph, and measure on the held-back
photos how often rank 1 is what the person chose, before and after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sacrop_cli.api import Cropper
from sacrop_cli.model.checkpoint import read_checkpoint
from sacrop_cli.model.export import export_onnx
from sacrop_cli.model.registry import resolve_weights, sha256_file
from sacrop_cli.train.agreement import agreement
from sacrop_cli.train.finetune import FinetuneConfig, learn
from sacrop_cli.train.reviews import FEW, HELD_BACK, hold_back, read_reviews
from sacrop_cli.train.trainer import Reporter


@dataclass
class ReviewRun:
    """What to learn from and where to write it."""

    reviews: Sequence[Path]
    out: Path
    init: str | None = None  # base weights (NAME|PATH); None: the shipped ones
    val_reviews: Sequence[Path] = ()
    cfg: FinetuneConfig = field(default_factory=FinetuneConfig)
    command: str = ""
    held_back: float = HELD_BACK  # share of the reviewed photos kept back (no val_reviews)
    check: bool = True  # measure the agreement before and after on the held-back photos


def train_from_reviews(
    run: ReviewRun, reporter: Reporter | None = None, cache: dict | None = None
) -> dict:
    """Learn; returns a summary (counts, skipped photos, the agreement before and after).
    NothingToLearn when no photo was marked done or changed. ``cache``: see
    :func:`~sacrop_cli.train.finetune.prepare`."""
    rep = reporter or Reporter()
    reviews = read_reviews(run.reviews)
    for line in reviews.warnings:
        rep.message(f"warning: {line}")
    if run.val_reviews:
        learn_on, held = reviews.photos, read_reviews(run.val_reviews).photos
    else:
        learn_on, held = hold_back(reviews.photos, run.held_back, run.cfg.seed)
    if len(reviews.photos) < FEW:
        rep.message(
            f"warning: {len(reviews.photos)} reviewed photos (fewer than {FEW}): the taste "
            "learned will be noisy; review more photos for a steadier result"
        )
    base_path = resolve_weights(run.init, kind="torch", allow_download=False)
    base = read_checkpoint(base_path)
    base_data = (base.meta.get("training") or {}).get("data") or {}
    description = {
        "command": run.command,
        "base": {"name": base_path.name, "sha256": sha256_file(base_path)},
        "reviews": {"files": reviews.files, **reviews.counts(), "checked": len(held)},
        # the base's data (the photos it was trained and validated on), not the reviewed
        # photos' names: the checkpoint stays no larger than the shipped one
        "data": base_data,
    }
    learned = learn(base, learn_on, run.cfg, run.out, description, rep, cache)
    for reason, count in learned.skipped.items():
        rep.message(f"skipped {count} reviewed photo(s): {reason}")
    graph = export_onnx(run.out)
    summary = {
        "out": str(run.out),
        "graph": str(graph),
        "photos": learned.n_photos,
        "pairs": learned.n_pairs,
        "skipped": learned.skipped,
        "checked": len(held),
    }
    if held and run.check:
        rep.stage("checking on the held-back photos", 2 * len(held))
        summary["before"] = agreement(Cropper(str(base_path)), held, rep.advance)
        summary["after"] = agreement(Cropper(str(graph)), held, rep.advance)
    return summary
