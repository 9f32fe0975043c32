"""Responsiveness of ``sacrop review`` on a large folder: page load and one saved change, over
HTTP, as the browser does them.

    python benchmarks/review.py FOLDER [--n 1000] [--distinct 8] [-r 4:3 -r 1:1] [-k 3]
                                [--repeat 5] [--weights NAME|PATH]

The first ``--distinct`` photos of FOLDER are analysed once (``-k`` ranks per ratio); a folder
of ``--n`` links to them, cycling, gets their records in a manifest, so that ``sacrop review``
(a process, as people run it, ``--no-browser``) takes the manifest as it is and analyses
nothing. Then, medians (and the worst) of ``--repeat`` runs:

- start: process start to the URL printed (reading and matching the manifest's records);
- page shown: ``/``, ``review.js``, ``review.css`` and the first page's records
  (``/api/photos``), one after another; the last page's records likewise;
- thumbnails: the first page's thumbnails, fetched 6 at a time as a browser does, cold (the
  first run) and cached;
- one change saved: ``POST /api/change`` (rank 2, then a moved box, alternately) until its
  answer, which comes after the whole manifest is written (atomically, synced to disk).

Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sacrop_cli.api import Cropper
from sacrop_cli.io.inputs import scan_inputs
from sacrop_cli.viz.review_records import analyse, plan

PAGE_SIZE = 100  # as review.js asks (its CHUNK)


def linked(photos: list[Path], count: int, folder: Path) -> list[Path]:
    """``count`` links to ``photos`` in ``folder``, cycling through them."""
    folder.mkdir(parents=True)
    links = []
    for i in range(count):
        src = photos[i % len(photos)]
        link = folder / f"{i:05d}-{src.name}"
        link.symlink_to(src.resolve())
        links.append(link)
    return links


def manifest_for(links: list[Path], photos: list[Path], records: list[dict], path: Path) -> None:
    """The distinct photos' records repeated for their links (same pixels, same crops)."""
    by_photo = {Path(r["source"]).name: r for r in records if r["status"] == "ok"}
    with path.open("w") as fh:
        for i, link in enumerate(links):
            record = by_photo[photos[i % len(photos)].name]
            fh.write(json.dumps({**record, "source": str(link)}) + "\n")


def fetch(url: str, data: bytes | None = None) -> bytes:
    headers = {"Content-Type": "application/json"} if data is not None else {}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers), timeout=60) as r:
        return r.read()


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def one_run(folder: Path, manifest: Path, ratios: list[str], k: int, n: int, first: bool):
    """One ``sacrop review`` process: its timings (seconds) by measure."""
    command = [sys.executable, "-m", "sacrop_cli", "review", str(folder), "--manifest"]
    command += [str(manifest), "-k", str(k), "--no-browser", "-q"]
    for ratio in ratios:
        command += ["-r", ratio]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().strip()
    times = {"start": time.perf_counter() - start}
    try:
        base, token = re.fullmatch(r"(http://[^/]+)/\?token=(.+)", url).groups()

        def get(path: str) -> bytes:
            return fetch(f"{base}{path}{'&' if '?' in path else '?'}token={token}")

        def page() -> None:
            for path in ("/", "/review.js", "/review.css", f"/api/photos?limit={PAGE_SIZE}"):
                get(path)

        times["page shown"] = timed(page)
        last = (n - 1) // PAGE_SIZE * PAGE_SIZE
        last_page = f"/api/photos?offset={last}&limit={PAGE_SIZE}"
        times["last page's records"] = timed(lambda: get(last_page))
        shown = json.loads(get(f"/api/photos?offset=0&limit={PAGE_SIZE}"))["photos"]
        thumbs = [f"/thumb/{p['index']}.jpg" for p in shown if p["status"] == "ok"]
        with ThreadPoolExecutor(6) as pool:
            cold = timed(lambda: list(pool.map(get, thumbs)))
            cached = timed(lambda: list(pool.map(get, thumbs)))
        if first:
            times["thumbnails, cold"] = cold
        times["thumbnails, cached"] = cached
        photo = shown[len(shown) // 2]
        ratio = photo["ratios"][0]
        x1, y1, x2, y2 = ratio["crop"]["box"]
        changes = [
            {"index": photo["index"], "ratio": ratio["ratio"], "action": "rank", "rank": 2},
            {"index": photo["index"], "ratio": ratio["ratio"], "action": "box"}
            | {"box": [x1 + 8, y1 + 6, x2 + 8, y2 + 6]},
        ]
        saves = [
            timed(lambda c=c: fetch(f"{base}/api/change?token={token}", json.dumps(c).encode()))
            for c in changes
        ]
        times["one change saved (the slower of rank 2 and a moved box)"] = max(saves)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=8)
    parser.add_argument("-r", "--ratio", dest="ratios", action="append")
    parser.add_argument("-k", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--weights")
    args = parser.parse_args()
    ratios = args.ratios or ["4:3", "1:1"]
    scan = scan_inputs([args.folder])
    photos = [Path(p) for p, _ in scan.images][: args.distinct]
    if not photos:
        sys.exit(f"{args.folder}: no photos")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        distinct = scan_inputs(photos)
        records = analyse(
            lambda: Cropper(weights=args.weights),
            plan(distinct, [], ratios),
            distinct,
            ratios,
            args.k,
        )
        links = linked(photos, args.n, tmp_path / "photos")
        manifest = tmp_path / "review.jsonl"
        manifest_for(links, photos, records, manifest)
        size = manifest.stat().st_size
        runs = [
            one_run(tmp_path / "photos", manifest, ratios, args.k, args.n, first=i == 0)
            for i in range(args.repeat)
        ]
    print(
        f"`sacrop review` of {args.n} photos ({len(photos)} distinct, {', '.join(ratios)}, "
        f"-k {args.k}; a manifest of {size / 1e3:.0f} kB), "
        f"{args.repeat} runs\n"
    )
    print("| measure | median (ms) | worst (ms) |\n|---|---:|---:|")
    for measure in runs[0]:
        values = [run[measure] * 1000 for run in runs if measure in run]
        print(f"| {measure} | {statistics.median(values):.0f} | {max(values):.0f} |")


if __name__ == "__main__":
    main()
