"""Build the FCDB validation folder the shipped weights held out, for `sacrop eval --fcdb` and the
benchmarks that take it (`faces.py`, `subject.py`).

The checkpoint's metadata names its 200 validation photos; this writes a folder laid out like
FCDB's own (``images/``, ``cropping_testing_set.json``, ``ranking_annotation.json``) holding only
those, the images as symbolic links. Usage:

    python benchmarks/fcdb_val.py ../shared/data/fcdb-train /tmp/fcdb-val
    sacrop eval --fcdb /tmp/fcdb-val
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path, PurePosixPath

from sacrop_cli.model.checkpoint import read_meta
from sacrop_cli.model.registry import resolve_weights


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fcdb", type=Path, help="the FCDB training folder the weights were trained on")
    ap.add_argument("out", type=Path, help="the validation folder to create")
    ap.add_argument("--weights", default=None, help="NAME|PATH (default: the shipped weights)")
    args = ap.parse_args()

    meta = read_meta(resolve_weights(args.weights, kind="torch", allow_download=False))
    names = set(meta["training"]["data"]["val_names"])
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    for file, out_name in [
        ("cropping_training_set.json", "cropping_testing_set.json"),
        ("ranking_annotation.json", "ranking_annotation.json"),
    ]:
        entries = json.loads((args.fcdb / file).read_text())
        kept = [e for e in entries if PurePosixPath(e["url"]).name in names]
        (args.out / out_name).write_text(json.dumps(kept))
    for name in sorted(names):
        link = args.out / "images" / name
        if not link.exists():
            link.symlink_to((args.fcdb / "images" / name).resolve())
    print(f"{args.out}: {len(names)} validation photos")


if __name__ == "__main__":
    main()
