"""The order photos are reviewed in: ``--order uncertain`` puts first the photos whose rank 1 and
rank 2 scored closest, where the network hesitated and a person's choice teaches it most."""

from __future__ import annotations

import math
from collections.abc import Sequence

from sacrop_cli.record import PhotoRecord

ORDERS = ("name", "uncertain")


def margin(record: PhotoRecord) -> float:
    """The smallest gap between rank 1's and rank 2's scores over the record's ratios (inf when
    no ratio has two ranks, or the photo was not analysed)."""
    if record.get("status") != "ok":
        return math.inf
    scores: dict[tuple[str, int], float] = {}
    for crop in record.get("proposals") or record.get("crops") or []:
        scores[(crop["ratio"], crop["rank"])] = crop["score"]
    gaps = [
        scores[(ratio, 1)] - scores[(ratio, 2)]
        for ratio, rank in scores
        if rank == 2 and (ratio, 1) in scores
    ]
    return min(gaps, default=math.inf)


def ordered(records: Sequence[PhotoRecord], order: str = "name") -> list[PhotoRecord]:
    """``records`` in review order: as given (``name``), or the closest calls first (stable)."""
    if order == "uncertain":
        return sorted(records, key=margin)
    return list(records)
