"""How often a network's rank 1 is what a person chose in their reviews (IoU >= 0.9 with the
crop they kept), over the reviewed photos: what ``train --reviews`` prints before and after
learning, and ``eval --reviews`` for any weights. Runs on any engine (no torch needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sacrop_cli.api import Cropper
from sacrop_cli.boxes import box_iou
from sacrop_cli.errors import SacropError
from sacrop_cli.train.reviews import SAME, ReviewedPhoto, photo_problem


def agreement(
    cropper: Cropper,
    photos: Sequence[ReviewedPhoto],
    on_photo: Callable[[], None] | None = None,
) -> dict:
    """``{"photos", "crops", "agree", "agreement", "changed_agree", "changed", "skipped"}``:
    of the crops the person kept (``crops``; ``changed`` of them not sacrop's rank 1 when
    reviewed), how many this cropper's rank 1 matches; photos missing or resized are skipped
    and counted by reason."""
    agree = crops = changed = changed_agree = used = 0
    skipped: dict[str, int] = {}
    for photo in photos:
        try:
            analysis = cropper.load(photo.source)
            size = analysis.full_size
        except (SacropError, OSError):
            size = None
        problem = photo_problem(photo, size)
        if problem is not None:
            skipped[problem] = skipped.get(problem, 0) + 1
        else:
            used += 1
            ratios = list(dict.fromkeys(c.ratio for c in photo.choices))
            firsts = {c.ratio: c.box for c in cropper.best_crops([analysis], ratios, 1)[0]}
            for choice in photo.choices:
                hit = choice.ratio in firsts and box_iou(firsts[choice.ratio], choice.box) >= SAME
                agree += hit
                crops += 1
                changed += choice.changed
                changed_agree += hit and choice.changed
        if on_photo:
            on_photo()
    return {
        "photos": used,
        "crops": crops,
        "agree": agree,
        "agreement": round(agree / crops, 4) if crops else None,
        "changed": changed,
        "changed_agree": changed_agree,
        "skipped": skipped,
    }
