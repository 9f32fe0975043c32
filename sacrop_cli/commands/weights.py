"""``sacrop weights``: list, download, locate and check model weights."""
from __future__ import annotations

import json
import os
import re

import click

from sacrop_cli import weights as w
from sacrop_cli.errors import SacropError


def _check_sha256(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise click.BadParameter("expected 64 hexadecimal characters")
    return value.lower() if value else None


_sha256_option = click.option(
    "--sha256", metavar="HEX", callback=_check_sha256,
    help="Expected SHA-256 of the file (64 hex characters).")


@click.group("weights")
def weights() -> None:
    """List, download, locate and verify model weights.

    \b
    Example:
      sacrop weights list
    """


@weights.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table.")
def list_cmd(as_json: bool) -> None:
    """Show the known weights, where they are and their checksums.

    \b
    Example:
      sacrop weights list --json
    """
    rows = []
    for entry in w.REGISTRY.values():
        path = w.locate(entry.name)
        rows.append({
            "name": entry.name,
            "default": entry.name == w.DEFAULT_WEIGHTS,
            "description": entry.description,
            "filename": entry.filename,
            "path": str(path) if path else None,
            "url": entry.url,
            "present": path is not None,
            "size": path.stat().st_size if path else None,
            "sha256": w.sha256_file(path) if path else None,
            "expected_sha256": entry.sha256,
        })
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.filesize import decimal
    from rich.table import Table

    table = Table("Name", "Default", "Location", "Present", "Size", "SHA-256")
    for row in rows:
        table.add_row(
            row["name"], "*" if row["default"] else "",
            row["path"] or row["url"] or "not present",
            "yes" if row["present"] else "no",
            decimal(row["size"]) if row["present"] else "-",
            row["sha256"][:12] if row["sha256"] else "-")
    Console().print(table)


@weights.command("download")
@click.argument("spec", metavar="NAME|URL")
@_sha256_option
def download_cmd(spec: str, sha256: str | None) -> None:
    """Download weights into the cache and print their path.

    Interrupted downloads resume on the next run. The cache is $SACROP_CACHE_DIR
    or the per-user cache folder.

    \b
    Example:
      sacrop weights download https://example.org/sacrop-fcdb-v2.pt --sha256 HEX
    """
    entry = w.REGISTRY.get(spec)
    try:
        if entry is not None and entry.url is not None:
            path = w.download(entry.url, sha256=sha256 or entry.sha256, filename=entry.filename)
        elif entry is not None:  # shipped-only weights: nothing to download, report the file
            path = w.resolve_weights(spec, allow_download=False)
            if sha256 and (actual := w.sha256_file(path)) != sha256:
                raise click.ClickException(
                    f"{path}: SHA-256 mismatch: expected {sha256}, got {actual}")
        elif spec.startswith(("http://", "https://")):
            path = w.download(spec, sha256=sha256)
        else:
            raise click.ClickException(
                f"{spec}: not a URL or registered name (see `sacrop weights list`)")
    except SacropError as err:
        raise click.ClickException(str(err)) from None
    click.echo(str(path))


@weights.command("path")
@click.argument("spec", metavar="[NAME|PATH|URL]", required=False)
def path_cmd(spec: str | None) -> None:
    """Print the local file that NAME resolves to, without downloading.

    NAME defaults to $SACROP_WEIGHTS, then the default weights.

    \b
    Example:
      sacrop weights path sacrop-fcdb-v2
    """
    try:
        click.echo(str(w.resolve_weights(spec, allow_download=False)))
    except SacropError as err:
        raise click.ClickException(str(err)) from None


@weights.command("verify")
@click.argument("spec", metavar="[NAME|PATH]", required=False)
@_sha256_option
def verify_cmd(spec: str | None, sha256: str | None) -> None:
    """Check that weights match their checksum and load as a sacrop checkpoint.

    Registered names are checked against their known SHA-256 unless --sha256 is given.

    \b
    Example:
      sacrop weights verify ./my-finetune.pt --sha256 HEX
    """
    spec = spec or os.environ.get("SACROP_WEIGHTS") or w.DEFAULT_WEIGHTS
    try:
        path = w.resolve_weights(spec, allow_download=False)
    except SacropError as err:
        raise click.ClickException(str(err)) from None
    entry = w.REGISTRY.get(spec)
    result = w.verify(path, sha256 or (entry.sha256 if entry else None))
    if not result["ok"]:
        raise click.ClickException(result["error"])
    click.echo(f"OK {result['path']}")
    click.echo(f"  size: {result['size']} bytes")
    click.echo(f"  sha256: {result['sha256']}")
    for key, value in (result["meta"] or {}).items():
        click.echo(f"  {key}: {value}")
