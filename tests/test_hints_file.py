"""``--hints FILE``: a line per photo; a malformed line or one naming no photo is one warning."""

from __future__ import annotations

import json

import pytest

from sacrop_cli.errors import SacropError
from sacrop_cli.hints import Hints
from sacrop_cli.run.hints_file import read_hints_file


def test_lines_steer_their_photos_and_bad_lines_are_one_warning_each(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    photos = ["photos/a.jpg", "photos/b.jpg", str(tmp_path / "photos" / "c.jpg")]
    lines = [
        {"source": "photos/a.jpg", "keep": [["10%", "20%", "40%", "60%"]], "focus": [5, 6]},
        "{not json",
        {"source": "photos/zzz.jpg", "focus": [1, 1]},
        {"source": "photos/b.jpg", "avoid": [[0, 0, 10, 10]], "extra": 1},
        {"keep": [[0, 0, 1, 1]]},
        "",
        {"source": "./photos/c.jpg", "avoid": [[0, 0, "5%", "5%"]]},  # c by another path
        {"source": "photos/a.jpg", "avoid": [[1, 1, 2, 2]], "focus": [7, 8]},  # adds up
    ]
    path = tmp_path / "hints.jsonl"
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    found, warnings = read_hints_file(path, photos)
    assert found == {
        "photos/a.jpg": Hints.of(keep="10%,20%,40%,60%", avoid=[(1, 1, 2, 2)], focus=(7, 8)),
        photos[2]: Hints.of(avoid="0,0,5%,5%"),
    }
    assert warnings == [
        f"{path}:2: not JSON (Expecting property name enclosed in double quotes: line 1 "
        "column 2 (char 1)); line ignored",
        f"{path}:3: photos/zzz.jpg is not one of the photos to crop; line ignored",
        f"{path}:4: unknown field(s) extra; line ignored",
        f"{path}:5: no source (the photo's path, as in the manifest); line ignored",
    ]


def test_a_source_relative_to_the_files_folder(tmp_path):
    path = tmp_path / "shoot" / "hints.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps({"source": "a.jpg", "focus": ["50%", "50%"]}) + "\n")
    found, warnings = read_hints_file(path, [str(tmp_path / "shoot" / "a.jpg")])
    assert found == {str(tmp_path / "shoot" / "a.jpg"): Hints.of(focus="50%,50%")}
    assert warnings == []


def test_a_missing_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(SacropError) as err:
        read_hints_file(tmp_path / "nope.jsonl", [])
    assert str(err.value) == (
        f"{tmp_path / 'nope.jsonl'}: cannot read the hints file: No such file or directory"
    )


def test_each_bad_line_is_one_warning_and_the_others_still_steer(tmp_path):
    """Issue 32, items 3 and 8: wrong types, a NUL, a byte that is not UTF-8, numbers out of
    range, too many regions: one warning each, never a traceback or the whole file refused."""
    photo = str(tmp_path / "a.jpg")
    lines = [
        b'{"source": "a.jpg", "focus": 5}',
        b'{"source": "a.jpg", "focus": true}',
        b'{"source": "a.jpg", "keep": [null]}',
        b'{"source": "a\\u0000.jpg", "focus": [1, 1]}',
        b'{"source": "a.jpg", "focus": [1, 1], "note": "caf\xe9"}',
        b'{"source": "a.jpg", "focus": [1e400, 1]}',
        b'{"source": "a.jpg", "focus": ["1e400", 1]}',
        b'{"source": "a.jpg", "focus": [' + b"9" * 5000 + b", 1]}",
        b'{"source": "a.jpg", "avoid": [' + b",".join([b"[0, 0, 5, 5]"] * 1001) + b"]}",
        b'{"source": "a.jpg", "avoid": [' + b",".join([b"[0, 0, 5, 5]"] * 1000) + b"]}",
        b'{"source": "a.jpg", "keep": [[1, 1, 2, 2]], "focus": [3, 4]}',
    ]
    path = tmp_path / "hints.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    found, warnings = read_hints_file(path, [photo])
    assert found == {photo: Hints.of(avoid=[(0, 0, 5, 5)] * 1000)}
    assert warnings == [
        f"{path}:1: focus: not a point [x, y]; line ignored",
        f"{path}:2: focus: not a point [x, y]; line ignored",
        f"{path}:3: keep[0]: not a region [x1, y1, x2, y2]; line ignored",
        f"{path}:4: a NUL character in a string; line ignored",
        f"{path}:5: not UTF-8 text (byte 0xe9 at column 50); line ignored",
        f"{path}:6: the number 1e400 is out of range; line ignored",
        f"{path}:7: '1e400': coordinates are finite and not negative; line ignored",
        f"{path}:8: an integer of 5000 digits (at most 15); line ignored",
        f"{path}:9: avoid: 1,001 items, not 0 to 1,000; line ignored",
        f"{path}:11: a.jpg: 1,001 keep and avoid regions for a photo, more than the 1,000 it "
        "takes; line ignored",
    ]
