"""Parameter count and CPU latency per image of the scoring network: full and basic, with
sacrop's slim heads (the default) and with the paper's (32 fused channels, 32x32 grid).

    python benchmarks/model.py [--threads 2] [--repeats 30]

Latency is one backbone pass plus the heads over every free-ratio (GAIC grid) candidate of a
3:2 photo at the network's input size (256 x 384), batch of one, ``torch.inference_mode()``, of
the network as ``sacrop`` runs it (``optimize_for_inference``). ``benchmarks/pipeline.py``
measures whole runs over folders of photos.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from sacrop_cli.candidates import gaic_grid
from sacrop_cli.model.format import ScorerConfig
from sacrop_cli.model.network import CropScorer, count_parameters
from sacrop_cli.model.preprocess import boxes_to_rois, input_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    photo = (1536, 1024)
    size = input_size(*photo)
    boxes = gaic_grid(*photo)
    rois = torch.from_numpy(boxes_to_rois(boxes, photo, size))
    images = torch.randn(1, 3, size[1], size[0])
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), input {size[0]}x{size[1]}, "
        f"{len(boxes)} candidates"
    )
    print(f"{'model':<20} {'parameters':>12} {'median ms':>10} {'p90 ms':>8}")
    paper = {"reduced_dim": 32, "grid": 32}
    for name, config in (
        ("full", {}),
        ("basic", {"spatial": False}),
        ("full, paper heads", paper),
        ("basic, paper heads", {**paper, "spatial": False}),
    ):
        model = CropScorer(ScorerConfig(**config)).eval()
        parameters = count_parameters(model)  # before BatchNorm is folded away
        model.optimize_for_inference()
        times = []
        with torch.inference_mode():
            for i in range(args.repeats + 3):
                start = time.perf_counter()
                model(images, rois)
                if i >= 3:  # warm-up
                    times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p90 = times[int(0.9 * (len(times) - 1))]
        print(f"{name:<20} {parameters:>12,} {statistics.median(times):>10.1f} {p90:>8.1f}")


if __name__ == "__main__":
    main()
