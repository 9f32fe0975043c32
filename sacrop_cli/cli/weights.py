"""``sacrop weights``: list, download, locate and check model weights."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli.options import check_sha256, reports_errors
from sacrop_cli.errors import SacropError
from sacrop_cli.model import inspection
from sacrop_cli.model import registry as w

if TYPE_CHECKING:
    from sacrop_cli import candidates
    from sacrop_cli.engines import factory
    from sacrop_cli.model import export, quantize
else:
    candidates = lazy_module("sacrop_cli.candidates")
    factory = lazy_module("sacrop_cli.engines.factory")
    export = lazy_module("sacrop_cli.model.export")
    quantize = lazy_module("sacrop_cli.model.quantize")


_sha256_option = click.option(
    "--sha256",
    metavar="HEX",
    callback=check_sha256,
    help="Expected SHA-256 of the file (64 hex characters).",
)


@click.group("weights")
def weights() -> None:
    """List, download, locate and verify model weights.

    \b
    Example:
      sacrop weights list
    """


def _file_row(entry: w.WeightsEntry, file: w.WeightsFile) -> dict:
    path = w.locate(entry.name, file.kind)
    return {
        "name": entry.name,
        "kind": file.kind,
        "default": entry.name == w.DEFAULT_WEIGHTS,
        "description": entry.description,
        "filename": file.filename,
        "path": str(path) if path else None,
        "url": file.url,
        "present": path is not None,
        "size": path.stat().st_size if path else None,
        "sha256": w.sha256_file(path) if path else None,
        "expected_sha256": file.sha256,
    }


def on_terminal() -> bool:
    """Whether standard output is a terminal (a person reads it) rather than a pipe or a file."""
    return sys.stdout.isatty()


@weights.command("list")
@click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table."
)
@reports_errors
def list_cmd(as_json: bool) -> None:
    """Show the known weights, their files, where they are and their checksums.

    Each model has two files: the ONNX graph that `sacrop crop` runs (kind onnx) and the
    torch checkpoint it was exported from (kind torch, for training and --engine torch).
    Into a pipe or a file: one line per file, its fields (name, kind, default or -,
    location, size in bytes, SHA-256) separated by tabs.

    \b
    Example:
      sacrop weights list --json
    """
    rows = [_file_row(entry, file) for entry in w.REGISTRY.values() for file in entry.files]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not on_terminal():  # a pipe or a file: one line a file, for cut, grep and awk
        for row in rows:
            where = row["path"] or row["url"] or "not present"
            fields = [row["name"], row["kind"], "default" if row["default"] else "-", where]
            fields += [str(row["size"]) if row["present"] else "-", row["sha256"] or "-"]
            click.echo("\t".join(fields))
        return
    from rich.console import Console
    from rich.filesize import decimal
    from rich.table import Table

    table = Table("Name", "Kind", "Default", "Location", "Size")
    table.add_column("SHA-256", overflow="fold")  # whole, wrapped if it must be: never cut
    table.columns[3].overflow = "fold"
    for row in rows:
        table.add_row(
            row["name"],
            row["kind"],
            "*" if row["default"] else "",
            row["path"] or row["url"] or "not present",
            decimal(row["size"]) if row["present"] else "-",
            row["sha256"] or "-",
        )
    Console().print(table)


@weights.command("download")
@click.argument("spec", metavar="NAME|URL")
@_sha256_option
@reports_errors
def download_cmd(spec: str, sha256: str | None) -> None:
    """Download weights into the cache and print their path.

    Interrupted downloads resume on the next run. The cache is $SACROP_CACHE_DIR
    or the per-user cache folder.

    \b
    Example:
      sacrop weights download https://example.org/sacrop-fcdb-v2.onnx --sha256 HEX
    """
    entry = w.REGISTRY.get(spec)
    if entry is not None:  # every file of the model: downloaded, or the shipped one
        paths = []
        for file in entry.files:
            if file.url is not None and w.locate(spec, file.kind) is None:
                paths.append(w.download(file.url, sha256=file.sha256, filename=file.filename))
            else:
                paths.append(w.resolve_weights(spec, kind=file.kind, allow_download=False))
    elif spec.startswith(("http://", "https://")):
        paths = [w.download(spec, sha256=sha256)]
    else:
        raise SacropError(f"{spec}: not a URL or registered name (see `sacrop weights list`)")
    for path in paths:
        click.echo(str(path))


_kind_option = click.option(
    "--kind",
    type=click.Choice(sorted(w.KINDS)),
    default="onnx",
    show_default=True,
    help="Which file of the model: the ONNX graph or the torch checkpoint.",
)


@weights.command("path")
@click.argument("spec", metavar="[NAME|PATH|URL]", required=False)
@_kind_option
@reports_errors
def path_cmd(spec: str | None, kind: str) -> None:
    """Print the local file that NAME resolves to, without downloading.

    NAME defaults to $SACROP_WEIGHTS, then the default weights.

    \b
    Example:
      sacrop weights path sacrop-fcdb-v2 --kind torch
    """
    click.echo(str(w.resolve_weights(spec, kind=kind, allow_download=False)))


@weights.command("verify")
@click.argument("spec", metavar="[NAME|PATH]", required=False)
@_sha256_option
@reports_errors
def verify_cmd(spec: str | None, sha256: str | None) -> None:
    """Check that weights match their checksum and load: the ONNX graph and the checkpoint.

    A registered name checks both of its files against their known SHA-256; a file checks
    itself (against --sha256 if given) and its sibling of the other kind when present.

    \b
    Example:
      sacrop weights verify ./my-finetune.pt --sha256 HEX
    """
    spec = spec or os.environ.get("SACROP_WEIGHTS") or w.DEFAULT_WEIGHTS
    entry = w.REGISTRY.get(spec)
    checks: list[tuple[Path, str | None]] = []
    if entry is not None:  # --sha256 stands for the file a name first means: its graph
        for file in entry.files:
            path = w.locate(spec, file.kind)
            if path is None:
                raise SacropError(f"{spec}: {file.filename} is not installed")
            checks.append((path, sha256 if sha256 and file.kind == "onnx" else file.sha256))
    else:
        path = w.resolve_weights(spec, kind=w.kind_of(spec) or "onnx", allow_download=False)
        checks.append((path, sha256))
        other_kind = {"torch": "onnx", "onnx": "torch", "int8": "torch"}.get(w.kind_of(path))
        if other_kind and w.sibling(path, other_kind).is_file():
            checks.append((w.sibling(path, other_kind), None))
    failed = []
    for path, expected in checks:
        result = inspection.verify(path, expected)
        if not result["ok"]:
            failed.append(result["error"])
            continue
        click.echo(f"OK {result['path']}")
        click.echo(f"  size: {result['size']} bytes")
        click.echo(f"  sha256: {result['sha256']}")
        if result["note"]:
            click.echo(f"  note: {result['note']}")
        for key, value in inspection.summarise_meta(result["meta"]):
            click.echo(f"  {key}: {value}")
    if failed:
        raise SacropError("; ".join(failed))


@weights.command("export")
@click.argument(
    "checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE.pt"
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.onnx",
    help="Where to write the graph.  [default: beside the checkpoint, .onnx]",
)
@click.option(
    "--int8",
    is_flag=True,
    help="Write the int8 graph (NAME.int8.onnx, for --precision int8) of the float graph "
    "beside it instead, exporting the float graph first only when it is missing.",
)
@click.option(
    "--calibration",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="DIR",
    help="With --int8: photos like those the weights were trained on (e.g. FCDB's training "
    "images), to calibrate the int8 ranges; the checkpoint's validation photos are left out.",
)
@click.option(
    "--calibration-count",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="With --int8: how many photos of DIR to calibrate on.",
)
@reports_errors
def export_cmd(
    checkpoint: Path,
    out: Path | None,
    int8: bool,
    calibration: Path | None,
    calibration_count: int,
) -> None:
    """Turn a checkpoint into the ONNX graph that `sacrop crop` runs (needs sacrop[train]).

    The graph takes any image size and any number of crops, and keeps the checkpoint's
    metadata. `sacrop train` writes both files; this is for checkpoints made otherwise.
    --int8 quantizes the float graph (ONNX Runtime's static QDQ quantization, per-channel
    weights), calibrated on --calibration photos.

    \b
    Example:
      sacrop weights export runs/my-finetune.pt
      sacrop weights export runs/my-finetune.pt --int8 --calibration fcdb/images
    """
    factory.require_torch("sacrop weights export")
    if not int8:
        if calibration is not None:
            raise click.UsageError("--calibration goes with --int8")
        click.echo(str(export.export_onnx(checkpoint, out)))
        return
    if calibration is None:
        raise click.UsageError("--int8 needs --calibration DIR: photos to calibrate on")
    graph = w.sibling(checkpoint, "onnx")
    if not graph.is_file():
        click.echo(str(export.export_onnx(checkpoint, graph)))
    made = quantize.quantize_graph(
        graph,
        calibration,
        candidates.gaic_grid,
        out,
        count=calibration_count,
        command=shlex.join(["sacrop", *sys.argv[1:]]),
    )
    click.echo(str(made))
