"""``review --order uncertain``: the closest calls first."""

from __future__ import annotations

import math

from sacrop_cli.record import new_record
from sacrop_cli.viz.review_order import margin, ordered


def record(name: str, *scores: float, ratio: str = "any") -> dict:
    rec = new_record(name, (60, 40))
    rec["proposals"] = [
        {"ratio": ratio, "rank": rank, "box": [0, 0, 60, 40], "score": score}
        for rank, score in enumerate(scores, start=1)
    ]
    return rec


def test_margin_is_the_smallest_gap_between_rank_1_and_rank_2() -> None:
    two = record("a.jpg", 0.9, 0.5)
    two["proposals"] += record("a.jpg", 0.4, 0.35, ratio="1:1")["proposals"]
    assert margin(two) == 0.4 - 0.35
    assert margin(record("b.jpg", 0.9)) == math.inf
    assert margin({**record("c.jpg", 0.9, 0.1), "status": "error"}) == math.inf


def test_uncertain_puts_the_closest_calls_first_and_keeps_name_order_else() -> None:
    records = [record("a.jpg", 0.9, 0.5), record("b.jpg", 0.9), record("c.jpg", 0.6, 0.55)]
    assert [r["source"] for r in ordered(records, "uncertain")] == ["c.jpg", "a.jpg", "b.jpg"]
    assert [r["source"] for r in ordered(records, "name")] == ["a.jpg", "b.jpg", "c.jpg"]
