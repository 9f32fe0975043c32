"""The one checkpoint format: tensors plus metadata, loaded without executing anything.

A checkpoint is a plain dict ``{"format": "sacrop-checkpoint", "format_version": int,
"meta": {...}, "state_dict": {name: Tensor}}``. ``meta`` holds only JSON-like values, so
``torch.load(weights_only=True)`` can read it; a file that needs pickled code is refused.
``meta`` is the single source of truth for how to rebuild and feed the network: the
architecture and its options, input size and normalisation, and how it was trained.
:func:`read_meta` reads it without torch (``sacrop weights`` on a crop-only install).
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sacrop_cli._version import __version__
from sacrop_cli.errors import CheckpointError
from sacrop_cli.io.atomic import atomic_write
from sacrop_cli.model.format import ARCHITECTURE, DEFAULT_INPUT, ScorerConfig

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = "sacrop-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    state_dict: dict[str, torch.Tensor]
    meta: dict[str, Any]

    @property
    def config(self) -> ScorerConfig:
        return ScorerConfig(**self.meta["config"])


def make_meta(model: nn.Module, **extra: Any) -> dict[str, Any]:
    """Metadata for ``model``: architecture, options, input spec, version; plus ``extra``
    (training data and command, metrics, lambda_cls, delta...)."""
    return {
        "architecture": ARCHITECTURE,
        "config": model.config.to_dict(),
        "input": dict(DEFAULT_INPUT),
        "sacrop_version": __version__,
        **extra,
    }


def save_checkpoint(
    path: Path,
    model: nn.Module,
    meta: dict[str, Any],
    *,
    half: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write atomically (temp file + rename). ``half`` stores float16, for shipping; ``extra``
    adds top-level entries (the trainer's resumable state)."""
    import torch

    path = Path(path)
    state = {
        k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu().clone()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "meta": meta,
        "state_dict": state,
        **(extra or {}),
    }
    return atomic_write(path, lambda fh: torch.save(payload, fh), durable=True)


def read_checkpoint(path: Path) -> Checkpoint:
    """Load and validate a checkpoint; never unpickles code (``weights_only=True``)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    try:
        with warnings.catch_warnings():  # torch's multi-line hints about odd files: we say why
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not _may_be_torch_file(path):
            raise CheckpointError(
                f"{path}: not a weights file (sacrop reads .onnx graphs and .pt checkpoints)"
            ) from None
        raise CheckpointError(
            f"{path}: refused: the file needs pickled code to load, which sacrop never runs "
            "(not a sacrop checkpoint, or tampered with)"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - damaged data makes the unpickler raise anything
        # (KeyError, IndexError...); torch's own messages run to several sentences: keep one.
        worded = isinstance(exc, (RuntimeError, OSError, ValueError))  # KeyError says "101"
        text = " ".join(str(exc).split()) if worded else ""
        reason = text.split(". ")[0][:120] if text else type(exc).__name__
        raise CheckpointError(f"{path}: damaged or truncated weights file ({reason})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a sacrop checkpoint (no '{FORMAT}' header)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this sacrop "
            f"({__version__}) reads (up to {FORMAT_VERSION}); upgrade sacrop"
        )
    meta, state = payload.get("meta"), payload.get("state_dict")
    if not isinstance(meta, dict) or not isinstance(state, dict):
        raise CheckpointError(f"{path}: checkpoint lacks metadata or tensors")
    if meta.get("architecture") != ARCHITECTURE:
        raise CheckpointError(
            f"{path}: checkpoint is for architecture {meta.get('architecture')!r}, "
            f"not {ARCHITECTURE!r}"
        )
    known = {f.name for f in fields(ScorerConfig)}
    config = meta.get("config")
    if not isinstance(config, dict) or set(config) - known:
        raise CheckpointError(
            f"{path}: unknown network options {sorted(set(config or {}) - known)}"
        )
    return Checkpoint(state, meta)


def _may_be_torch_file(path: Path) -> bool:
    """A zip archive (torch's format) or a pickle (its legacy one): refused for pickled code
    only then; anything else (a photo, a text) is simply not a weights file."""
    with open(path, "rb") as fh:
        return zipfile.is_zipfile(fh) or fh.seek(0) == 0 and fh.read(1) == b"\x80"


class _MetaOnly(pickle.Unpickler):
    """Unpickles a checkpoint's structure with every tensor left out: torch's rebuild functions
    become a stub and no other global is allowed, so nothing is imported or run."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            from collections import OrderedDict

            return OrderedDict
        if module.startswith("torch"):
            return _tensor_stub
        raise pickle.UnpicklingError(f"refused global {module}.{name}")

    def persistent_load(self, pid: Any) -> None:
        return None


def _tensor_stub(*args: Any, **kwargs: Any) -> None:
    return None


def read_meta(path: Path) -> dict[str, Any]:
    """The metadata of a checkpoint, read without torch (and without its tensors)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            with archive.open(name) as fh:
                payload = _MetaOnly(fh).load()
    except (OSError, zipfile.BadZipFile, StopIteration, pickle.UnpicklingError, EOFError) as err:
        raise CheckpointError(
            f"{path}: not a readable sacrop checkpoint ({err or type(err).__name__})"
        ) from None
    if (
        not isinstance(payload, dict)
        or payload.get("format") != FORMAT
        or not isinstance(payload.get("meta"), dict)
    ):
        raise CheckpointError(f"{path}: not a sacrop checkpoint (no '{FORMAT}' header)")
    return payload["meta"]
