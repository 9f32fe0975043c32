"""The manifest record: one per input of a run, the one definition every part of sacrop uses.

It lives below :mod:`sacrop_cli.run` and :mod:`sacrop_cli.viz`, which both read it. The batch
run makes records (:func:`analysed`, from a photo's analysis), the manifest and ``--json`` write
them, Ray carries them as Arrow rows (:func:`arrow_schema`, :func:`from_row`), and the preview
sheets and the review read them.
Records are plain dicts typed by :class:`PhotoRecord`, so they are JSON as they are::

    {"source": str, "width": W | None, "height": H | None,   # upright size
     "status": "ok" | "error" | "skipped", "error": None | one-line message (why, if skipped),
     "faces": [[x1, y1, x2, y2, score], ...] | None (not looked for, or not analysed),
     "crops": [{"ratio": "4:3", "rank": 1, "box": [x1, y1, x2, y2], "score": float (4 places),
                "note": None | why a rule could not be met (see ``constraints``),
                "path": str | None,
                "status": "written" | "exists" | "dry-run" | "sidecar" (--xmp-only) | "failed"}],
     "sidecar": None | the XMP sidecar written (--xmp),
     "folder": None | the folder of its crops, relative to the output folder ("." for its top),
               so that ``sacrop apply`` places them where ``crop`` did}

``sacrop review`` adds optional keys, so that what a person chose stays beside what sacrop
proposed (human-voted pairs for training); readers that do not know them ignore them. Its
``crops`` hold one crop per ratio, rank 1's slot: the crop ``sacrop apply`` writes. ::

    photo: "proposals": [crop, ...]   # every rank sacrop proposed (the choices offered)
           "reviewed": ISO time       # the person marked the photo done
    crop:  "proposed": {"box": [x1, y1, x2, y2], "score": float}   # sacrop's rank 1
           "chosen": "rank" | "box"   # picked another rank, or moved/resized the box
           "chosen_rank": int         # the rank picked (with "rank")
           "chosen_at": ISO time

A crop's review keys are written only once a person changed it; its ``box`` is then the one
chosen, its ``score`` the picked rank's (a drawn box keeps the score of the one it came from).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from sacrop_cli.api import Analysis
from sacrop_cli.errors import SacropError
from sacrop_cli.faces import face_list
from sacrop_cli.io import schema as S
from sacrop_cli.io.jsonl import json_lines
from sacrop_cli.search import Crop

if TYPE_CHECKING:
    import pyarrow as pa

PhotoStatus = Literal["ok", "error", "skipped"]
CropStatus = Literal["pending", "written", "exists", "dry-run", "sidecar", "failed"]


class Proposed(TypedDict):
    box: list[int]
    score: float


class _CropFields(TypedDict):
    ratio: str
    rank: int
    box: list[int]
    score: float
    note: str | None
    path: str | None
    status: CropStatus


class CropRecord(_CropFields, total=False):
    """A crop; the optional keys are a review's (see the module's docstring)."""

    proposed: Proposed
    chosen: Literal["rank", "box"]
    chosen_rank: int
    chosen_at: str


class _PhotoFields(TypedDict):
    source: str
    width: int | None
    height: int | None
    status: PhotoStatus
    error: str | None
    faces: list[list[float]] | None
    crops: list[CropRecord]
    sidecar: str | None
    folder: str | None


class PhotoRecord(_PhotoFields, total=False):
    """A photo's record; the optional keys are a review's (see the module's docstring)."""

    proposals: list[CropRecord]
    reviewed: str


#: A record's fields, in the order records are written (a review's optional keys follow them).
FIELDS = tuple(_PhotoFields.__annotations__)


def new_record(source: Path | str, size: tuple[int, int] | None = None) -> PhotoRecord:
    return {
        "source": str(source),
        "width": size[0] if size else None,
        "height": size[1] if size else None,
        "status": "ok",
        "error": None,
        "faces": None,
        "crops": [],
        "sidecar": None,
        "folder": None,
    }


def analysed(source: Path | str, analysis: Analysis | BaseException) -> PhotoRecord:
    """The record of a photo once analysed: its upright size and faces, or why it could not be
    read (crops are added as they are written)."""
    if isinstance(analysis, BaseException):
        record = new_record(source)
        fail(record, source, analysis)
        return record
    record = new_record(source, analysis.full_size)
    if analysis.faces is not None:
        record["faces"] = face_list(analysis.faces)
    return record


def crop_record(crop: Crop, status: CropStatus) -> CropRecord:
    return {
        "ratio": crop.ratio,
        "rank": crop.rank,
        "box": list(crop.box),
        "score": round(crop.score, 4),
        "note": crop.note,
        "path": None,
        "status": status,
    }


def fail(record: PhotoRecord, path: Path | str, err: BaseException) -> None:
    """Mark the record failed with a one-line message that names the photo."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if isinstance(err, OSError) and err.strerror:  # "[Errno 13] ..." -> "path: Permission denied"
        message = f"{err.filename or path}: {err.strerror}"
    if str(path) not in message:
        message = f"{path}: {message}"
    record["status"], record["error"] = "error", message


def skipped_record(source: Path | str, reason: str) -> PhotoRecord:
    return {**new_record(source), "status": "skipped", "error": f"{source}: skipped: {reason}"}


def missing_record(source: Path | str) -> PhotoRecord:
    return {**new_record(source), "status": "error", "error": f"{source}: no such file or folder"}


def arrow_schema(**extra: pa.DataType) -> pa.Schema:
    """The record as an Arrow schema (fixed, so every block of a Ray dataset has it even with
    no crops at all), followed by ``extra`` columns."""
    import pyarrow as pa

    crop = pa.struct(
        [
            ("ratio", pa.string()),
            ("rank", pa.int64()),
            ("box", pa.list_(pa.int64())),
            ("score", pa.float64()),
            ("note", pa.string()),
            ("path", pa.string()),
            ("status", pa.string()),
        ]
    )
    return pa.schema(
        [
            ("source", pa.string()),
            ("width", pa.int64()),
            ("height", pa.int64()),
            ("status", pa.string()),
            ("error", pa.string()),
            ("faces", pa.list_(pa.list_(pa.float64()))),
            ("crops", pa.list_(crop)),
            ("sidecar", pa.string()),
            ("folder", pa.string()),
            *extra.items(),
        ]
    )


def from_row(row: dict[str, Any]) -> PhotoRecord:
    """The record of an Arrow row (extra columns left out): faces' pixel corners, which Arrow
    holds as floats beside their scores, are integers again."""
    record: PhotoRecord = {key: row[key] for key in FIELDS}  # type: ignore[assignment]
    if record["faces"] is not None:
        record["faces"] = [[*map(int, f[:4]), f[4]] for f in record["faces"]]
    return record


#: A ratio as a record names it (``4:3``, ``1.91:1``, ``any``): no space, no line break, since
#: crop file names are made of it.
RATIO_TEXT = S.text(max_len=32, pattern=r"[0-9A-Za-z.:/]+")
_BOX = S.list_of(S.whole(), min_len=4, max_len=4)
_SIZE = S.optional(S.whole(1, S.MAX_PIXEL))
_CROP = S.obj(
    {"ratio": RATIO_TEXT, "rank": S.whole(1, 1000), "box": _BOX},
    {
        "score": S.optional(S.number()),
        "note": S.optional(S.text()),
        "path": S.optional(S.text()),
        "status": S.text(max_len=32),
        "proposed": S.obj({"box": _BOX, "score": S.optional(S.number())}),
        "chosen": S.text(max_len=32),
        "chosen_rank": S.whole(1, 1000),
        "chosen_at": S.text(max_len=64),
    },
)
_CROPS = S.list_of(_CROP, max_len=10_000)
_OPTIONAL = {
    "width": _SIZE,
    "height": _SIZE,
    "status": S.text(max_len=32),
    "error": S.optional(S.text()),
    "faces": S.optional(S.list_of(S.list_of(S.number(), min_len=5, max_len=5))),
    "sidecar": S.optional(S.text()),
    "folder": S.optional(S.text()),
    "proposals": _CROPS,
    "reviewed": S.text(max_len=64),
}
#: A manifest record as ``sacrop apply`` reads it: a source and its crops (none when left out),
#: any other field of the record of its type when present (a hand-edited manifest may leave
#: them out).
MANIFEST_RECORD = S.obj({"source": S.text(empty=False)}, {"crops": _CROPS, **_OPTIONAL})
#: A record of a review's FILE: what the page shows needs its status and size too.
REVIEW_RECORD = S.obj(
    {"source": S.text(empty=False), "crops": _CROPS, "status": S.text(max_len=32)}, _OPTIONAL
)


def read_records(path: Path | str) -> list[PhotoRecord]:
    """The records of a manifest (JSON Lines), each with its crops and of the types
    :data:`MANIFEST_RECORD` says; SacropError names the file and the first bad line."""
    records = []
    for number, value, bad in json_lines(path, "manifest"):
        try:
            record = S.validate(value, MANIFEST_RECORD) if bad is None else None
        except ValueError:
            record = None
        if record is None or "crops" not in record:
            raise SacropError(f"{path}: line {number} is not a manifest record")
        records.append(record)
    return records
