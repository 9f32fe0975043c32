"""What the commands share: parameter types, option groups (the model's folded into one
:class:`~sacrop_cli.api.ModelSpec`), loading the network, and the one way from an error to an
exit status (:func:`reports_errors`).

Nothing heavy is imported here at module level: ``sacrop --help`` must stay fast.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sacrop_cli._lazy import lazy_module
from sacrop_cli.cli.console import UI
from sacrop_cli.engines.choices import DEFAULT_PRECISION, DEVICES, ENGINES, PRECISIONS
from sacrop_cli.errors import SacropError
from sacrop_cli.hints import Point, Region, parse_point, parse_region
from sacrop_cli.ratios import Ratio, parse_ratio

if TYPE_CHECKING:
    from sacrop_cli import api
    from sacrop_cli.io import encode
    from sacrop_cli.model import registry
else:
    api = lazy_module("sacrop_cli.api")
    encode = lazy_module("sacrop_cli.io.encode")
    registry = lazy_module("sacrop_cli.model.registry")


class RatioType(click.ParamType):
    """``W:H`` (also ``WxH``, ``W/H``; whole or decimal numbers), ``any`` or ``original``."""

    name = "ratio"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Ratio:
        if isinstance(value, Ratio):
            return value
        try:
            return parse_ratio(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "W:H|any|original"


class SizeType(click.ParamType):
    """``WxH`` in pixels, or one number for a square bound."""

    name = "size"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", str(value))
        if match:
            w = int(match.group(1))
            h = int(match.group(2)) if match.group(2) else w
            if w > 0 and h > 0:
                return w, h
        self.fail(
            f"{value!r} is not a size: use WxH with positive integers (e.g. 1920x1080)", param, ctx
        )

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "WxH"


def parse_box(value: Any) -> list[float | int]:
    """Four numbers ``x1,y1,x2,y2``; whole numbers stay ints so the JSON echoes them as given."""
    items = value if isinstance(value, (list, tuple)) else str(value).replace(" ", "").split(",")
    if len(items) != 4:
        raise ValueError("a box is four numbers x1,y1,x2,y2")
    numbers = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float, str)):
            raise ValueError(f"{item!r} is not a number")
        number = float(item)  # ValueError for words
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{item!r} is not a finite number")
        numbers.append(int(number) if number.is_integer() else number)
    return numbers


def box_pixels(box: list[float | int] | Region, width: int, height: int) -> list[float | int]:
    """A box of :class:`BoxType` in pixels of a ``width x height`` photo (whole numbers as
    ints, so that the JSON echoes them as such)."""
    if not box or not hasattr(box[0], "pixels"):
        return list(box)  # type: ignore[arg-type]
    sides = (width, height, width, height)
    values = [c.pixels(side) for c, side in zip(box, sides)]  # type: ignore[union-attr]
    return [int(v) if float(v).is_integer() else round(v, 2) for v in values]


class BoxType(click.ParamType):
    """``x1,y1,x2,y2`` in pixels of the upright photo, x2/y2 exclusive; or with ``%`` of its
    sides, as ``--keep`` takes them (a Region, made pixels per photo: :func:`box_pixels`)."""

    name = "box"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[float | int] | Region:
        try:
            if isinstance(value, str) and "%" in value:
                return parse_region(value)
            return parse_box(value)
        except ValueError as err:
            self.fail(f"{value!r}: {err}", param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "x1,y1,x2,y2"


class RegionType(click.ParamType):
    """``x1,y1,x2,y2`` of a hint: pixels of the upright photo, or ``%`` of its sides."""

    name = "region"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Region:
        try:
            return value if isinstance(value, tuple) else parse_region(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "X1,Y1,X2,Y2"


class PointType(click.ParamType):
    """``x,y`` of a hint: pixels of the upright photo, or ``%`` of its sides."""

    name = "point"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Point:
        try:
            return value if isinstance(value, tuple) else parse_point(str(value))
        except ValueError as err:
            self.fail(str(err), param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "X,Y"


def hint_options(func: Any) -> Any:
    """--keep, --avoid and --focus: a person's hints for every photo (crop and explain)."""
    func = click.option(
        "--focus",
        type=PointType(),
        default=None,
        help="A point every crop is around (e.g. 50%,30%): in its middle two thirds wherever "
        "the photo allows.",
    )(func)
    func = click.option(
        "--avoid",
        type=RegionType(),
        multiple=True,
        help="A region crops leave out (a watermark, a stranger); repeatable.",
    )(func)
    return click.option(
        "--keep",
        type=RegionType(),
        multiple=True,
        help="A region every crop holds whole; repeatable. Numbers are pixels of the upright "
        "photo or % of its sides (--keep 10%,20%,40%,60%). Hints outrank the face rules.",
    )(func)


def hints_file_option(func: Any) -> Any:
    """--hints FILE: a person's hints per photo (JSON Lines), added to --keep/--avoid/--focus."""
    return click.option(
        "--hints",
        "hints_path",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Hints per photo: JSON Lines, one object per photo with its 'source' (as in the "
        "manifest) and 'keep', 'avoid', 'focus' (see docs/cli.md); added to --keep and "
        "--avoid, a photo's focus replaces --focus.",
    )(func)


def check_sha256(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise click.BadParameter("expected 64 hexadecimal characters")
    return value.lower() if value else None


def _fold_model(func: Any, faces: bool, refine: bool) -> Any:
    """Fold the model options into one ``model`` argument, a :class:`~sacrop_cli.api.ModelSpec`,
    checked once: --sha256 and --trust go into --weights (``URL#sha256=HEX``,
    ``URL#unchecked``, the form engines and Ray workers read)."""

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        weights: str | None,
        engine: str,
        device: str,
        precision: str,
        sha256: str | None,
        trust: bool,
        **kwargs: Any,
    ) -> None:
        if sha256 or trust:
            if not (weights or "").startswith(("http://", "https://")):
                raise click.UsageError("--sha256 and --trust check a URL given as --weights")
            weights = registry.pin(weights, sha256, trust=trust)
        kwargs["model"] = api.ModelSpec(
            weights,
            engine,
            device,
            precision,
            refine=not kwargs.pop("no_refine") if refine else True,
            faces=kwargs.pop("faces") if faces else False,
        )
        return func(*args, **kwargs)

    return wrapper


def model_options(func: Any = None, *, faces: bool = True, refine: str | None = None) -> Any:
    """--weights (with --sha256 and --trust for a URL), --engine, --device, --precision,
    --faces/--no-faces (unless ``faces`` is off: the model then finds no faces) and, given its
    help text as ``refine``, --no-refine: shared by every command that runs the network, which
    receives them as one ``model``, a :class:`~sacrop_cli.api.ModelSpec`."""
    if func is None:
        return functools.partial(model_options, faces=faces, refine=refine)
    func = _fold_model(func, faces, refine is not None)
    if refine is not None:
        func = click.option("--no-refine", is_flag=True, help=refine)(func)
    if faces:
        func = click.option(
            "--faces/--no-faces",
            default=True,
            show_default=True,
            help="Find faces and never cut one: the largest face (and those near its size, "
            "when they fit) stays whole. --no-faces turns these rules off.",
        )(func)
    func = click.option(
        "--trust",
        is_flag=True,
        help="Run a --weights URL unchecked, without --sha256.",
    )(func)
    func = click.option(
        "--sha256",
        metavar="HEX",
        envvar="SACROP_WEIGHTS_SHA256",
        show_envvar=True,
        callback=check_sha256,
        help="Expected SHA-256 of a --weights URL's file: a download that differs is removed "
        "and refused. A URL needs it, or --trust.",
    )(func)
    func = click.option(
        "--precision",
        type=click.Choice(PRECISIONS),
        default=DEFAULT_PRECISION,
        show_default=True,
        help="The network's numbers: fp32, or int8 (its quantized graph, faster on the CPU; "
        "ONNX Runtime only).",
    )(func)
    func = click.option(
        "--device",
        type=click.Choice(DEVICES),
        default="auto",
        show_default=True,
        help="Where the network runs; auto uses CUDA when the engine has it.",
    )(func)
    func = click.option(
        "--engine",
        type=click.Choice(ENGINES),
        default="auto",
        show_default=True,
        help="What runs the network: ONNX Runtime (light, fast on the CPU) or torch (needs "
        "sacrop[train]; CUDA). auto is onnx, or torch for --device cuda when ONNX Runtime "
        "has no CUDA.",
    )(func)
    return click.option(
        "--weights",
        metavar="NAME|PATH|URL",
        envvar="SACROP_WEIGHTS",
        show_envvar=True,
        help="Model weights: a registered name (see `sacrop weights list`), an .onnx graph or "
        "a .pt checkpoint (the onnx engine runs the .onnx beside it), or a URL "
        "(downloaded once into the cache, checked against --sha256). Default: the shipped "
        "weights.",
    )(func)


def load_cropper(ui: UI, model: api.ModelSpec) -> api.Cropper:
    """The model's Cropper, its weights and engine said (a SacropError, e.g. no trained weights
    installed, ends the command)."""
    cropper = model.load()
    ui.info(f"weights: {cropper.weights_path} ({cropper.engine.name} on {cropper.device})")
    return cropper


def ratios_option(func: Any) -> Any:
    """-r/--ratio, repeatable, ``any`` by default (crop and explain)."""
    return click.option(
        "-r",
        "--ratio",
        "ratios",
        type=RatioType(),
        multiple=True,
        default=("any",),
        show_default=True,
        help="Aspect ratio of the crops: W:H (also WxH, W/H), decimal (1.91:1, or 1.5), 'any' "
        "or 'original'; repeat for several.",
    )(func)


def verbosity_options(
    func: Any = None, *, detail: str = "-v a line per photo, -vv per crop"
) -> Any:
    """-q and -v, shared by the commands that report progress; ``detail`` says what -v adds
    to this command's messages (``@verbosity_options(detail=...)``)."""
    if func is None:
        return functools.partial(verbosity_options, detail=detail)
    func = click.option("-v", "--verbose", count=True, help=f"More detail: {detail}.")(func)
    return click.option(
        "-q",
        "--quiet",
        is_flag=True,
        help="Only errors and results: no progress, warnings or summary.",
    )(func)


def reports_errors(command: Callable[..., None]) -> Callable[..., None]:
    """The one way from an error to an exit status, for every command: a SacropError prints
    ``error: <its one line>`` on stderr and exits 1; a second Ctrl-C (a KeyboardInterrupt)
    exits 130, the shell's code for SIGINT, rather than click's "Aborted!" and 1. Files being
    written when it happens are left whole or not at all (see :mod:`sacrop_cli.io.atomic`)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except SacropError as err:
            UI().error(str(err))
            raise click.exceptions.Exit(1) from None
        except KeyboardInterrupt:
            UI().error("aborted; the files written so far are complete, rerun to finish")
            raise click.exceptions.Exit(130) from None

    return wrapper


def _check_background(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        encode.background_colour(value)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx, param) from None
    return value


def file_options(func: Any) -> Any:
    """--format, --quality, --max-size and --background: how crop files are written (crop and
    apply write them alike)."""
    func = click.option(
        "--background",
        default="white",
        show_default=True,
        callback=_check_background,
        metavar="COLOR",
        help="Colour under the transparent pixels of crops written to JPEG (a name or #rrggbb).",
    )(func)
    func = click.option(
        "--max-size",
        type=SizeType(),
        default=None,
        help="Shrink crops to fit in WxH pixels (ratio kept, never enlarged).",
    )(func)
    func = click.option(
        "--quality",
        type=click.IntRange(1, 100),
        default=95,
        show_default=True,
        help="JPEG/WebP quality.",
    )(func)
    func = click.option(
        "--format",
        "fmt",
        type=click.Choice(["jpeg", "png", "webp", "tiff"], case_sensitive=False),
        help="Output format [default: the format of each photo; JPEG for HEIC, PNG for GIF].",
    )(func)
    return func
