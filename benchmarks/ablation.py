"""The ablation of the shipped recipe on the held-out validation part of FCDB's training split.

    python benchmarks/ablation.py --data ../shared/data --runs runs/ [--variants basic,spatial,full]
                                  [--seeds 0,1,2]

Trains each variant with `sacrop train` for each seed (same budget: epochs, crops, split),
evaluates each with `sacrop eval --fcdb` on the validation photos only (a folder of links to
them with their labels), adds the trivial baselines, and prints a Markdown table: one row per
variant and seed, and with several seeds the mean and range (max - min) of each variant.
Checkpoints and JSON reports go to --runs; a checkpoint that exists is not trained again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from sacrop_cli.train.datasets import read_fcdb, split_items

VARIANTS = {
    "basic": ["--basic", "--no-consistency"],
    "spatial": ["--no-consistency"],
    "full": [],
}
LABELS = {
    "basic": "basic model",
    "spatial": "+ spatial-aware feature",
    "full": "+ rank consistency (full method)",
}


def val_folder(fcdb: Path, out: Path, val_split: float, seed: int) -> Path:
    """An FCDB-layout folder holding only the validation photos (symlinks) and their labels."""
    val = {s.name for s in split_items(read_fcdb(fcdb).images, val_split, seed)[1]}
    (out / "images").mkdir(parents=True, exist_ok=True)
    crops = [
        e
        for e in json.loads((fcdb / "cropping_training_set.json").read_text())
        if e["url"].rsplit("/", 1)[-1] in val
    ]
    ranks = [
        e
        for e in json.loads((fcdb / "ranking_annotation.json").read_text())
        if e["url"].rsplit("/", 1)[-1] in val
    ]
    (out / "cropping_validation_set.json").write_text(json.dumps(crops))
    (out / "ranking_annotation.json").write_text(json.dumps(ranks))
    for name in val:
        link = out / "images" / name
        if not link.exists():
            link.symlink_to((fcdb / "images" / name).resolve())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--variants", default="basic,spatial,full")
    ap.add_argument("--seeds", default="0", help="training seeds, comma-separated")
    ap.add_argument(
        "--train-args",
        default="",
        help="extra arguments for every `sacrop train` (default: none, the shipped recipe)",
    )
    args = ap.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)
    fcdb = args.data / "fcdb-train"
    val_dir = val_folder(fcdb, args.runs / "fcdb-val", 0.15, 0)
    sacrop = [sys.executable, "-m", "sacrop_cli"]
    results: dict[str, list[dict]] = {}
    seeds = [int(v) for v in args.seeds.split(",")]
    for variant in args.variants.split(","):
        for seed in seeds:
            name = variant if seed == 0 else f"{variant}-seed{seed}"
            ckpt = args.runs / f"{name}.pt"
            if not ckpt.exists():
                cmd = [
                    *sacrop,
                    "train",
                    "--fcdb",
                    str(fcdb),
                    "--unlabeled",
                    str(args.data / "unlabeled"),
                    "-o",
                    str(ckpt),
                    "--seed",
                    str(seed),
                    *VARIANTS[variant],
                    *args.train_args.split(),
                ]
                print("$", " ".join(cmd), flush=True)
                start = time.perf_counter()
                subprocess.run(cmd, check=True)
                print(
                    f"{name}: trained in {(time.perf_counter() - start) / 60:.1f} min", flush=True
                )
            report = args.runs / f"{name}.eval.json"
            subprocess.run(
                [
                    *sacrop,
                    "eval",
                    "--fcdb",
                    str(val_dir),
                    "--weights",
                    str(ckpt),
                    "--json",
                    str(report),
                    "-q",
                ],
                check=True,
                env={**os.environ},
            )
            results.setdefault(variant, []).append(
                {"seed": seed, **json.loads(report.read_text())["summary"]}
            )
    baselines = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("fcdb_baselines.py")),
            str(fcdb),
            "--val-split",
            "0.15",
            "--split-seed",
            "0",
            "--json",
            str(args.runs / "baselines.json"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    base = json.loads((args.runs / "baselines.json").read_text())
    print(
        "\n| model | IoU | Disp | IoU told ratio | pairs 5-0/4-1 | all pairs |"
        "\n|---|---|---|---|---|---|"
    )
    f = lambda v: "–" if v is None else f"{v:.4f}"  # noqa: E731
    for name, r in base.items():
        print(
            f"| {name} | {f(r['iou'])} | {f(r['disp'])} | {f(r['iou_told_ratio'])} | "
            f"{f(r['pairs_decisive'])} | {f(r['pairs_all'])} |"
        )
    keys = ("iou", "disp", "iou_told_ratio", "pairs_decisive", "pairs_all")
    for variant, runs in results.items():
        for r in runs:
            print(
                f"| {LABELS[variant]}, seed {r['seed']} | "
                + " | ".join(f(r.get(k)) for k in keys)
                + " |"
            )
        if len(runs) > 1:
            cells = [
                f"{sum(r[k] for r in runs) / len(runs):.4f} "
                f"({max(r[k] for r in runs) - min(r[k] for r in runs):.4f})"
                for k in keys
            ]
            print(
                f"| **{LABELS[variant]}, mean (range) of {len(runs)} seeds** | "
                + " | ".join(cells)
                + " |"
            )
    print(
        f"\n({next(iter(results.values()))[0]['n']} validation photos; "
        f"baselines: {baselines.stdout.count(chr(10)) - 1} rows)"
    )


if __name__ == "__main__":
    main()
