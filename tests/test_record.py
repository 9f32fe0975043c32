"""The manifest record: one definition for the local run, Ray's Arrow rows and the sheets."""

from __future__ import annotations

import errno
import json

import pytest
from helpers import require_module

from sacrop_cli.errors import SacropError
from sacrop_cli.record import (
    FIELDS,
    CropRecord,
    PhotoRecord,
    arrow_schema,
    crop_record,
    fail,
    from_row,
    missing_record,
    new_record,
    read_records,
    skipped_record,
)
from sacrop_cli.search import Crop


def test_a_new_record_has_every_field_in_order():
    assert tuple(new_record("a.jpg", (640, 480))) == FIELDS
    assert new_record("a.jpg", (640, 480)) == {
        "source": "a.jpg",
        "width": 640,
        "height": 480,
        "status": "ok",
        "error": None,
        "faces": None,
        "crops": [],
        "sidecar": None,
        "folder": None,
    }


def test_a_crop_record_rounds_its_score_to_four_places():
    crop = Crop("4:3", 2, (1, 2, 401, 302), 0.123456, "a note")
    assert crop_record(crop, "pending") == {
        "ratio": "4:3",
        "rank": 2,
        "box": [1, 2, 401, 302],
        "score": 0.1235,
        "note": "a note",
        "path": None,
        "status": "pending",
    }


def test_a_failure_is_one_line_naming_the_photo():
    record = new_record("in/a.jpg")
    fail(record, "in/a.jpg", OSError(errno.EACCES, "Permission denied"))
    assert (record["status"], record["error"]) == ("error", "in/a.jpg: Permission denied")
    record = new_record("in/b.jpg")
    fail(record, "in/b.jpg", ValueError("bad data\nmore lines"))
    assert record["error"] == "in/b.jpg: bad data"


def test_skipped_and_missing_records_say_why():
    assert skipped_record("a.txt", "not a photo")["error"] == "a.txt: skipped: not a photo"
    assert skipped_record("a.txt", "not a photo")["status"] == "skipped"
    assert missing_record("gone.jpg")["error"] == "gone.jpg: no such file or folder"


def test_the_arrow_schema_is_the_record_plus_the_extra_columns():
    pa = require_module("pyarrow", 'pip install "sacrop[ray]"')
    schema = arrow_schema(stop=pa.string())
    assert tuple(schema.names) == (*FIELDS, "stop")


def test_an_arrow_row_gives_the_faces_pixels_back_as_integers():
    pa = require_module("pyarrow", 'pip install "sacrop[ray]"')
    record = {**new_record("a.jpg", (10, 10)), "faces": [[1, 2, 5, 6, 0.9]]}
    table = pa.Table.from_pylist([{**record, "stop": None}], schema=arrow_schema(stop=pa.string()))
    [row] = table.to_pylist()
    assert row["faces"] == [[1.0, 2.0, 5.0, 6.0, 0.9]]
    back = from_row(row)
    assert back == record and all(type(v) is int for v in back["faces"][0][:4])


def test_a_reviews_keys_are_optional_and_not_among_the_fields():
    assert PhotoRecord.__optional_keys__ == {"proposals", "reviewed"}
    assert CropRecord.__optional_keys__ == {"proposed", "chosen", "chosen_rank", "chosen_at"}
    assert FIELDS == ("source", "width", "height", "status", "error", "faces", "crops", "sidecar",
                      "folder")  # fmt: skip


def test_a_manifest_is_read_back_record_by_record(tmp_path):
    records = [new_record("a.jpg", (4, 3)), {**new_record("b.jpg"), "reviewed": "2024-01-01"}]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    assert read_records(path) == records


@pytest.mark.parametrize(
    "line",
    [
        "{not json",
        "[1, 2]",
        '{"source": "a.jpg"}',
        '{"crops": []}',
        '{"source": "a.jpg", "crops": [{"ratio": "4:3", "rank": 1, "box": [0, 0, 1e400, 3]}]}',
        '{"source": "a.jpg", "crops": [{"ratio": "4:3", "rank": true, "box": [0, 0, 4, 3]}]}',
        '{"source": "a.jpg", "crops": [], "width": "wide"}',
    ],
)
def test_a_line_that_is_no_record_is_one_error_naming_the_file(tmp_path, line):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(new_record("a.jpg")) + "\n" + line + "\n")
    with pytest.raises(SacropError) as err:
        read_records(path)
    assert str(err.value) == f"{path}: line 2 is not a manifest record"


def test_an_unreadable_manifest_is_one_error(tmp_path):
    with pytest.raises(SacropError) as err:
        read_records(tmp_path)
    assert str(err.value) == f"{tmp_path}: cannot read the manifest: Is a directory"
