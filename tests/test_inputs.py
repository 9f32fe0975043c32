"""Finding photos: files as given, folders walked in order, the rest skipped or missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sacrop_cli.io.inputs import own_outputs, scan_inputs


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


def test_sacrops_own_outputs_are_told_from_photos() -> None:
    names = [
        "IMG_1.CR2", "IMG_1.4x3.1.jpg", "IMG_1.3x2.2.jpg", "IMG_1.xmp", "IMG_1.CR2.xmp",
        "coffee.dng", "coffee.jpg", "coffee.4x3.1.jpg", "coffee-2.4x3.1.jpg",
        "coffee.4x3.1.4x3.1.jpg",  # a crop of a crop, from a run before this rule
        "a.png", "a.any.2.png", "a.1.91x1.1.png", "a.original.1.png", "A.16x9.1.PNG",
        "holiday.4x3.1.jpg",  # no holiday photo beside it: a photo
        "b.4x3.0.jpg", "b.jpg", "b.4x3.1.txt", "b.43.1.jpg",  # not crop names
        "notes.txt", "scan.XMP",
    ]  # fmt: skip
    assert own_outputs(names) == {
        "IMG_1.4x3.1.jpg", "IMG_1.3x2.2.jpg", "IMG_1.xmp", "IMG_1.CR2.xmp", "coffee.4x3.1.jpg",
        "coffee-2.4x3.1.jpg", "coffee.4x3.1.4x3.1.jpg", "a.any.2.png", "a.1.91x1.1.png",
        "a.original.1.png", "A.16x9.1.PNG", "scan.XMP",
    }  # fmt: skip


def test_own_outputs_are_listed_apart_in_folders_and_given_directly(tmp_path: Path) -> None:
    for name in ["a.jpg", "a.4x3.1.jpg", "a.xmp", "b.1x1.1.png", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    scan = scan_inputs([tmp_path])
    assert scan.images == [(tmp_path / "a.jpg", tmp_path), (tmp_path / "b.1x1.1.png", tmp_path)]
    assert scan.own == [tmp_path / "a.4x3.1.jpg", tmp_path / "a.xmp"]
    assert scan.skipped == [tmp_path / "notes.txt"]  # the sidecar is not counted there
    given = scan_inputs([tmp_path / n for n in ["a.4x3.1.jpg", "a.jpg", "a.xmp", "notes.txt"]])
    assert given.images == [(tmp_path / "a.jpg", None), (tmp_path / "notes.txt", None)]
    assert given.own == [tmp_path / "a.4x3.1.jpg", tmp_path / "a.xmp"]
