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
