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


def test_a_photo_named_directly_and_through_its_folder_is_found_once(tree: Path) -> None:
    first = scan_inputs([tree / "c.jpg", tree], recursive=False)
    assert first.images == [(tree / "c.jpg", None), (tree / "a.PNG", tree)]
    then = scan_inputs([tree, str(tree / "c.jpg"), tree / "b_sub" / ".." / "c.jpg"], False)
    assert then.images == [(tree / "a.PNG", tree), (tree / "c.jpg", tree)]
    # a link to a photo, inside a folder, stays a photo of its own (the output mirrors the tree)
    links = scan_inputs([tree / "b_sub", tree / "c.jpg"])
    assert (tree / "b_sub" / "same.jpg", tree / "b_sub") in links.images
    assert (tree / "c.jpg", None) in links.images


def test_a_folder_link_back_up_the_tree_is_skipped_with_a_warning(tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    (parent / "photos" / "sub").mkdir(parents=True)
    (parent / "elsewhere").mkdir()
    for rel in ["unrelated.jpg", "photos/a.jpg", "photos/sub/b.jpg", "elsewhere/e.jpg"]:
        (parent / rel).write_bytes(b"x")
    photos = parent / "photos"
    os.symlink("..", photos / "loop")  # the folder holding the input
    os.symlink("../sub", photos / "sub" / "again")  # a folder containing the link
    os.symlink(parent / "elsewhere", photos / "other")  # another folder: followed
    os.symlink(photos / "sub", photos / "twice")  # a folder walked already
    scan = scan_inputs([photos])
    assert scan.images == [
        (photos / "a.jpg", photos),
        (photos / "other" / "e.jpg", photos),
        (photos / "sub" / "b.jpg", photos),
    ]
    assert scan.warnings == [
        f"{photos / 'loop'}: skipped: a link to {parent}, a folder that contains it",
        f"{photos / 'sub' / 'again'}: skipped: a link to {photos / 'sub'}, a folder that "
        "contains it",
        f"{photos / 'twice'}: skipped: a link to {photos / 'sub'}, a folder already searched",
    ]
    assert scan.skipped == []


def test_hidden_entries_are_listed_apart(tree: Path) -> None:
    scan = scan_inputs([tree])
    assert scan.hidden == [tree / ".DS_Store", tree / ".hidden"]
    assert tree / ".DS_Store" not in scan.skipped
