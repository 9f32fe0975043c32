"""JSON Lines read once, each line decoded on its own."""

from __future__ import annotations

import pytest

from sacrop_cli.errors import SacropError
from sacrop_cli.io.jsonl import json_lines


def test_each_line_is_a_value_or_why_it_is_not(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1}\n\n[2]\n{oops\n')
    got = list(json_lines(path, "manifest"))
    assert [(n, v) for n, v, _ in got] == [(1, {"a": 1}), (3, [2]), (4, None)]
    assert got[0][2] is None and got[2][2].startswith("Expecting property name")


def test_a_file_that_cannot_be_read_is_one_error_naming_it(tmp_path):
    with pytest.raises(SacropError) as err:
        list(json_lines(tmp_path / "none.jsonl", "hints file"))
    assert (
        str(err.value)
        == f"{tmp_path / 'none.jsonl'}: cannot read the hints file: No such file or directory"
    )
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(SacropError, match="bin.jsonl: cannot read the manifest: 'utf-8' codec"):
        list(json_lines(tmp_path / "bin.jsonl", "manifest"))
