"""Learning a taste from reviews (`sacrop train --reviews`), with simulated reviewers.

Each reviewer has a consistent taste, a choice among the ranks `sacrop review` offers (-k 3, its
default, on the free ratio): the tightest crop; the crop that cuts most off the top (skies away);
the framing furthest right, which keeps the subject to the left; rank 1 always (accepts
everything). They review N photos of FCDB's training split (not the shipped weights' validation
photos) in name order or `--order uncertain`: the review is what `sacrop review` records (its
session makes the changes, "rank" then "done"), written to a review file that
`train --reviews` learns from (nothing held back: all N learn). The learned weights then crop
OTHER photos with -k 3, and the figure is how often rank 1 is the reviewer's pick among them.
The FCDB annotators review N of the validation photos (a rank 1 within IoU 0.9 of their crop
kept, otherwise their crop drawn) and are measured by the free IoU on the validation photos they
did not review; the one who accepts everything by the free IoU on all validation photos.

    python benchmarks/fcdb_val.py ../shared/data/fcdb-train /tmp/fcdb-val
    nice python benchmarks/learn.py ../shared/data/fcdb-train /tmp/fcdb-val --work /tmp/learn
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable
from pathlib import Path

import torch

from sacrop_cli.api import Cropper
from sacrop_cli.boxes import box_iou
from sacrop_cli.io.inputs import scan_inputs
from sacrop_cli.model.checkpoint import read_meta
from sacrop_cli.model.registry import resolve_weights
from sacrop_cli.record import PhotoRecord
from sacrop_cli.train.datasets import read_fcdb
from sacrop_cli.train.evaluate import evaluate_fcdb
from sacrop_cli.train.finetune import FinetuneConfig
from sacrop_cli.train.from_reviews import ReviewRun, train_from_reviews
from sacrop_cli.viz import review_records
from sacrop_cli.viz.review_order import ordered

K = 3  # ranks offered, as `sacrop review` offers by default


def _area(b: list[int]) -> float:
    return (b[2] - b[0]) * (b[3] - b[1])


#: A taste: which of the offered boxes (rank order) the reviewer keeps; ties go to the better rank.
TASTES: dict[str, Callable[[list[list[int]]], int]] = {
    "tightest": lambda boxes: min(range(len(boxes)), key=lambda i: (_area(boxes[i]), i)),
    "no-sky": lambda boxes: max(range(len(boxes)), key=lambda i: (boxes[i][1], -i)),
    "subject-left": lambda boxes: max(
        range(len(boxes)), key=lambda i: (boxes[i][0] + boxes[i][2], -i)
    ),
    "accept": lambda boxes: 0,
}


def analyse(paths: list[Path], weights: str | None) -> list[PhotoRecord]:
    """The records `sacrop review PATHS -k 3` analyses (free ratio)."""
    scan = scan_inputs(paths)
    plan = review_records.plan(scan, [], ["any"])
    return review_records.analyse(lambda: Cropper(weights, threads=1), plan, scan, ["any"], K)


def offered(record: PhotoRecord) -> list[list[int]]:
    return [c["box"] for c in sorted(record["proposals"], key=lambda c: c["rank"])]


def simulate(records: list[PhotoRecord], choose: Callable, file: Path) -> None:
    """Review ``records`` as a person with ``choose`` (record -> ("rank", r) | ("box", b)) does
    in `sacrop review`: every photo is changed if need be, then marked done."""
    session = review_records.ReviewSession(file, copy.deepcopy(records))
    for index in session.shown:
        kind, value = choose(session.records[index])
        if kind == "rank" and value != 1:
            session.change({"index": index, "action": "rank", "ratio": "any", "rank": value})
        elif kind == "box":
            session.change({"index": index, "action": "box", "ratio": "any", "box": value})
        session.change({"index": index, "action": "done", "done": True})


def taste_hits(records: list[PhotoRecord], taste: Callable) -> float:
    """Share of photos whose rank 1 is the taste's pick among the ranks offered."""
    hits = [taste(offered(r)) == 0 for r in records if r["status"] == "ok"]
    return round(sum(hits) / len(hits), 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fcdb", type=Path, help="FCDB training folder (../shared/data/fcdb-train)")
    ap.add_argument("val", type=Path, help="the validation folder of benchmarks/fcdb_val.py")
    ap.add_argument("--work", type=Path, required=True, help="folder for review files, weights")
    ap.add_argument("-n", type=int, nargs="+", default=[20, 50, 120])
    ap.add_argument("--pool", type=int, default=240, help="photos the reviewers may review")
    ap.add_argument("--others", type=int, default=100, help="other photos the figure is on")
    ap.add_argument("--tastes", nargs="+", default=[*TASTES, "fcdb"])
    ap.add_argument("--orders", nargs="+", default=["name", "uncertain"])
    ap.add_argument("--keep-weight", type=float, default=FinetuneConfig.keep_weight)
    ap.add_argument("--around-weight", type=float, default=FinetuneConfig.around_weight)
    args = ap.parse_args()
    torch.set_num_threads(1)  # one thread each: a shared machine's cores are not waited for
    args.work.mkdir(parents=True, exist_ok=True)

    meta = read_meta(resolve_weights(None, kind="torch", allow_download=False))
    val_names = set(meta["training"]["data"]["val_names"])
    names = sorted(p.name for p in (args.fcdb / "images").glob("*.jpg") if p.name not in val_names)
    pool_paths = [args.fcdb / "images" / n for n in names[: args.pool]]
    other_paths = [args.fcdb / "images" / n for n in names[args.pool : args.pool + args.others]]
    val = read_fcdb(args.val).images
    pool = _cached(args.work / "pool.json", lambda: analyse(pool_paths, None))
    base_others = _cached(args.work / "others.json", lambda: analyse(other_paths, None))
    val_records = _cached(args.work / "val.json", lambda: analyse([s.path for s in val], None))
    results = {"k": K, "pool": len(pool), "others": len(base_others), "runs": []}
    cache: dict = {}
    base_iou = _fcdb_iou(None, val)
    results["shipped_val_iou"] = base_iou
    for taste in args.tastes:
        for order in args.orders:
            for n in args.n:
                row = _run(args, taste, order, n, pool, val, val_records, base_others, cache)
                row["shipped_val_iou"] = base_iou
                results["runs"].append(row)
                print(json.dumps(row), flush=True)
                (args.work / "results.json").write_text(json.dumps(results, indent=1))


def _run(args, taste, order, n, pool, val, val_records, base_others, cache) -> dict:
    file = args.work / f"{taste}-{order}-{n}.jsonl"
    out = args.work / f"{taste}-{order}-{n}.pt"
    if taste == "fcdb":
        human = {s.path.name: s.best.tolist() for s in val}
        reviewed = ordered(val_records, order)[:n]

        def choose(record: PhotoRecord) -> tuple:
            best = [int(v) for v in human[Path(record["source"]).name]]
            rank1 = offered(record)[0]
            return ("rank", 1) if box_iou(rank1, best) >= 0.9 else ("box", best)

    else:
        pick = TASTES[taste]
        reviewed = ordered(pool, order)[:n]

        def choose(record: PhotoRecord) -> tuple:
            return ("rank", pick(offered(record)) + 1)

    simulate(reviewed, choose, file)
    summary = train_from_reviews(
        ReviewRun(
            [file],
            out,
            held_back=0.0,
            check=False,
            command="benchmarks/learn.py",
            cfg=FinetuneConfig(keep_weight=args.keep_weight, around_weight=args.around_weight),
        ),
        cache=cache,
    )
    row = {"taste": taste, "order": order, "n": n, "pairs": summary["pairs"]}
    if taste == "fcdb":
        seen = {Path(r["source"]).name for r in reviewed}
        rest = [s for s in val if s.path.name not in seen]
        row.update(
            val_photos=len(rest),
            shipped_iou=_fcdb_iou(None, rest),
            learned_iou=_fcdb_iou(summary["graph"], rest),
        )
    else:
        learned = analyse([Path(r["source"]) for r in base_others], summary["graph"])
        row.update(
            shipped=taste_hits(base_others, TASTES[taste]),
            learned=taste_hits(learned, TASTES[taste]),
        )
        if taste == "accept":
            row["learned_val_iou"] = _fcdb_iou(summary["graph"], val)
    return row


def _fcdb_iou(weights: str | None, samples: list) -> float:
    return round(evaluate_fcdb(Cropper(weights, threads=1), samples).summary["iou"], 4)


def _cached(path: Path, make: Callable[[], list]) -> list:
    if path.is_file():
        return json.loads(path.read_text())
    records = make()
    path.write_text(json.dumps(records))
    return records


if __name__ == "__main__":
    main()
