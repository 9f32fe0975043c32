"""What a weights file holds: its metadata read and checked, and summed up for a person.

A graph is read with ONNX Runtime; a checkpoint with torch when it is installed, else only its
metadata, so ``sacrop weights`` works on a crop-only install.
"""

from __future__ import annotations

from pathlib import Path

from sacrop_cli.errors import CheckpointError
from sacrop_cli.io.download import sha256_file
from sacrop_cli.model.checkpoint import read_checkpoint, read_meta
from sacrop_cli.model.graph import open_graph
from sacrop_cli.model.registry import KINDS


def read_weights_meta(path: Path) -> tuple[dict, str | None]:
    """The metadata of a graph or checkpoint, and a note on what could not be checked.

    A graph is opened with ONNX Runtime (its inputs and outputs checked); a checkpoint is loaded
    whole with torch when torch is installed, else only its metadata is read.
    """
    if Path(path).suffix.lower() == KINDS["onnx"]:
        return open_graph(path, optimize=False)[1], None
    try:
        import torch  # noqa: F401
    except ImportError:
        return read_meta(path), "tensors not checked: torch is not installed"
    return read_checkpoint(path).meta, None


def verify(path: Path, sha256: str | None) -> dict:
    """Check a weights file (graph or checkpoint): its SHA-256 (when known) and that it loads.

    Returns ``{"path": str, "sha256", "size", "ok", "error", "note", "meta"}``; never raises for
    a bad file, so callers can report every problem the same way.
    """
    path = Path(path)
    result: dict = {
        "path": str(path),
        "sha256": None,
        "size": None,
        "ok": False,
        "error": None,
        "note": None,
        "meta": None,
    }
    if not path.is_file():
        result["error"] = f"{path}: no such file"
        return result
    result["size"] = path.stat().st_size
    result["sha256"] = actual = sha256_file(path)
    if sha256 and actual != sha256.lower():
        result["error"] = f"{path}: SHA-256 mismatch: expected {sha256.lower()}, got {actual}"
        return result
    try:
        result["meta"], result["note"] = read_weights_meta(path)
    except CheckpointError as err:
        result["error"] = str(err)
        return result
    result["ok"] = True
    return result


def summarise_meta(meta: dict) -> list[tuple[str, str]]:
    """The metadata a person checks, one short line each (the training data's file lists are
    counted, not listed)."""
    training = meta.get("training") or {}
    data = training.get("data") or {}
    config = meta.get("config") or {}
    spec = meta.get("input") or {}
    rows = [
        (
            "architecture",
            f"{meta.get('architecture')} ({config.get('backbone')}, "
            f"{'spatial-aware feature' if config.get('spatial') else 'basic'})",
        ),
        (
            "input",
            f"short side {spec.get('short_side')}, long side <= {spec.get('max_long_side')}, "
            f"multiple of {spec.get('multiple')}",
        ),
    ]
    if training.get("command"):
        rows.append(("trained with", str(training["command"])))
    if isinstance(data, dict) and data:
        counts = ", ".join(f"{k} {v}" for k, v in data.items() if k.startswith("n_"))
        rows.append(("training data", counts or "-"))
    elif data:
        rows.append(("training data", str(data)))
    for key in ("lambda_cls", "delta"):
        if key in meta:
            rows.append((key, str(meta[key])))
    validation = (meta.get("metrics") or {}).get("validation") or {}
    if validation:
        rows.append(("validation", ", ".join(f"{k} {v:.4f}" for k, v in validation.items())))
    if meta.get("checkpoint_sha256"):
        rows.append(("exported from", f"checkpoint {meta['checkpoint_sha256']}"))
    return rows
