"""JSON Lines read once, each line decoded on its own."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sacrop_cli.errors import SacropError
from sacrop_cli.io.jsonl import BadLine, json_lines, parse_line


def test_each_line_is_a_value_or_why_it_is_not(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1}\n\n[2]\n{oops\n')
    got = list(json_lines(path, "manifest"))
    assert [(n, v) for n, v, _ in got] == [(1, {"a": 1}), (3, [2]), (4, None)]
    assert got[0][2] is None and got[2][2].startswith("not JSON (Expecting property name")


def test_a_file_that_cannot_be_read_is_one_error_naming_it(tmp_path):
    with pytest.raises(SacropError) as err:
        list(json_lines(tmp_path / "none.jsonl", "hints file"))
    assert (
        str(err.value)
        == f"{tmp_path / 'none.jsonl'}: cannot read the hints file: No such file or directory"
    )
    (tmp_path / "folder.jsonl").mkdir()
    with pytest.raises(SacropError, match="folder.jsonl: cannot read the manifest: Is a directory"):
        list(json_lines(tmp_path / "folder.jsonl", "manifest"))


@pytest.mark.parametrize(
    "line, why",
    [
        (b"[" + b"9" * 5000 + b"]", "an integer of 5000 digits (at most 15)"),
        (b"[" * 100_000 + b"]" * 100_000, "arrays or objects nested more than 16 deep"),
        (b'{"a": ' * 17 + b"1" + b"}" * 17, "arrays or objects nested more than 16 deep"),
        (b"[Infinity]", "Infinity is not a JSON number"),
        (b"[-Infinity]", "-Infinity is not a JSON number"),
        (b"[NaN]", "NaN is not a JSON number"),
        (b"[1e400]", "the number 1e400 is out of range"),
        (b'{"source": "a\x00.jpg"}', "a NUL byte"),
        (b'{"source": "a\\u0000.jpg"}', "a NUL character in a string"),
        (b'{"source": "\\ud800.jpg"}', "a string that is not valid Unicode (a lone surrogate)"),
        (b'{"source": "caf\xe9.jpg"}', "not UTF-8 text (byte 0xe9 at column 16)"),
        (b'{"a": "' + b"x" * 1_000_001 + b'"}', "a line over 1,000,000 bytes"),
        (b"{oops", "not JSON (Expecting property name enclosed in double quotes: line 1 column 2"
         " (char 1))"),
    ],
)
def test_a_bad_line_is_one_reason_and_the_next_lines_are_read(tmp_path, line, why):
    """Issue 32, item 3: syntax, depth, size, number range, encoding: each one line's reason,
    never a traceback, never the whole file refused."""
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'{"a": [1, 2.5, "x"]}\n' + line + b"\r\n" + b'{"b": "\xc3\xa9"}\n')
    assert list(json_lines(path, "manifest")) == [
        (1, {"a": [1, 2.5, "x"]}, None),
        (2, None, why),
        (3, {"b": "\u00e9"}, None),
    ]


def test_a_byte_order_mark_and_unicode_line_separators_are_no_line_ends(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": "x\xe2\x80\xa8y"}\n\n  \n[1]')
    assert list(json_lines(path, "manifest")) == [(1, {"a": "x\u2028y"}, None), (4, [1], None)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(line=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_are_a_value_or_one_reason_never_another_exception(line):
    try:
        parse_line(line)
    except BadLine as err:
        assert str(err) and "\n" not in str(err)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=json_values)
def test_any_json_value_is_a_record_or_one_line_why_not(tmp_path, value):
    """Every reader of records (apply, hints, review, resume): one line, never a traceback."""
    from sacrop_cli.run.apply import read_manifest
    from sacrop_cli.run.hints_file import read_hints_file
    from sacrop_cli.run.resume import previous_records
    from sacrop_cli.viz.review_records import read_review_file

    others = value if isinstance(value, dict) else {"keep": value, "focus": value}
    for record in (value, {"source": "a.jpg", "crops": value}, {"source": "a.jpg", **others}):
        path = tmp_path / "any.jsonl"
        path.write_text(json.dumps(record, allow_nan=True) + "\n")
        _, errors, _ = read_manifest(path)
        _, warnings = read_hints_file(path, ["a.jpg"])
        _, damaged = read_review_file(path)
        previous_records(path)
        assert all("\n" not in m for m in [*errors, *warnings, *damaged])
