"""Finding photos: files as given, folders walked in order, the rest skipped or missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sacrop_cli.io.inputs import scan_inputs


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    (root / "b_sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for rel in [
        "c.jpg",
        "a.PNG",
        "b_sub/x.tif",
        "b_sub/deeper/y.webp",
        "notes.txt",
        "b_sub/readme.md",
        ".DS_Store",
        ".hidden/z.jpg",
    ]:
        (root / rel).write_bytes(b"x")
    os.symlink(root, root / "b_sub" / "loop")  # symlink loop back to the top
    os.symlink(root / "c.jpg", root / "b_sub" / "same.jpg")  # mirrored as a file of its own
    return root


def test_scan_inputs_recursive(tree: Path, tmp_path: Path) -> None:
    single = tmp_path / "single.heic"
    single.write_bytes(b"x")
    scan = scan_inputs([tree, single, tmp_path / "nope.jpg", single])
    assert scan.images == [
        (tree / "a.PNG", tree),
        (tree / "b_sub" / "deeper" / "y.webp", tree),
        (tree / "b_sub" / "same.jpg", tree),
        (tree / "b_sub" / "x.tif", tree),
        (tree / "c.jpg", tree),
        (single, None),
    ]
    assert scan.skipped == [tree / "b_sub" / "readme.md", tree / "notes.txt"]
    assert scan.missing == [tmp_path / "nope.jpg"]


def test_scan_inputs_flat(tree: Path) -> None:
    scan = scan_inputs([str(tree)], recursive=False)
    assert scan.images == [(tree / "a.PNG", tree), (tree / "c.jpg", tree)]
    assert scan.skipped == [tree / "notes.txt"]
    assert scan.missing == []
