"""``sacrop crop``'s options for running on Ray (see :mod:`sacrop_cli.run.ray_runner`) and the
inputs they open up: URIs, and lists of photos in a file (``--files-from``).

Nothing of Ray is imported here: a run without ``--ray`` never loads it.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

import click

from sacrop_cli._lazy import lazy_module

if TYPE_CHECKING:
    from sacrop_cli.io import storage
else:
    storage = lazy_module("sacrop_cli.io.storage")


def ray_options(func: Any) -> Any:
    """--files-from, --ray, --ray-workers and --ray-gpus."""
    func = click.option(
        "--ray-gpus",
        type=click.FloatRange(min=0),
        default=0,
        show_default=True,
        metavar="N",
        help="GPUs each Ray worker takes (0.5: two workers share one); the network runs on "
        "them with onnxruntime-gpu on the workers (--device auto), or through torch with "
        "--device cuda.",
    )(func)
    func = click.option(
        "--ray-workers",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="Ray workers, each loading the network once and taking a CPU.  "
        "[default: as many as the cluster has room for]",
    )(func)
    func = click.option(
        "--ray",
        "ray_address",
        metavar="local|auto|ADDRESS",
        help="Run on Ray (needs sacrop[ray]): 'local' starts Ray on this machine, 'auto' joins "
        "the cluster of RAY_ADDRESS or `ray start`, else a cluster's address. Photos and --out "
        "are then folders every node sees, or URIs (s3://, gs://...).",
    )(func)
    return click.option(
        "--files-from",
        type=click.File("r", encoding="utf-8"),
        metavar="FILE",
        help="Also crop the photos listed in FILE, one path (or, with --ray, URI) a line; "
        "'-' reads standard input.",
    )(func)


def sources(
    paths: tuple[str, ...],
    files_from: IO[str] | None,
    out_dir: str,
    ray_address: str | None,
    ray_workers: int | None,
    ray_gpus: float,
) -> list[str]:
    """The photos and folders to crop, as given and listed; usage errors for what only Ray
    does."""
    listed = [line.strip() for line in files_from or () if line.strip()]
    given = [*paths, *listed]
    if not given:
        raise click.UsageError("name photos or folders to crop (PATH...), or --files-from FILE")
    if ray_address is None:
        if ray_workers is not None or ray_gpus:
            raise click.UsageError("--ray-workers and --ray-gpus go with --ray")
        uris = [name for name in (*given, out_dir) if storage.is_uri(name)]
        if uris:
            raise click.UsageError(f"{uris[0]}: URIs are read and written with --ray only")
    return given
