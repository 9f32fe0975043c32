"""The manifest record: one definition for the local run, Ray's Arrow rows and the sheets."""

from __future__ import annotations

import errno

import pytest

from sacrop_cli.run.record import (
    FIELDS,
    arrow_schema,
    crop_record,
    fail,
    from_row,
    missing_record,
    new_record,
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
    pa = pytest.importorskip("pyarrow")
    schema = arrow_schema(stop=pa.string())
    assert tuple(schema.names) == (*FIELDS, "stop")


def test_an_arrow_row_gives_the_faces_pixels_back_as_integers():
    pa = pytest.importorskip("pyarrow")
    record = {**new_record("a.jpg", (10, 10)), "faces": [[1, 2, 5, 6, 0.9]]}
    table = pa.Table.from_pylist([{**record, "stop": None}], schema=arrow_schema(stop=pa.string()))
    [row] = table.to_pylist()
    assert row["faces"] == [[1.0, 2.0, 5.0, 6.0, 0.9]]
    back = from_row(row)
    assert back == record and all(type(v) is int for v in back["faces"][0][:4])
