"""Dataset readers against real FCDB/GAICD files (tests/fixtures) and small generated cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import FIXTURES
from PIL import Image

from sacrop_cli.errors import DatasetError
from sacrop_cli.train.datasets import (
    LabelledImage,
    read_fcdb,
    read_gaicd,
    read_unlabelled,
    split_items,
)

FCDB = FIXTURES / "fcdb"
GAICD_JSON = FIXTURES / "gaicd" / "json"
GAICD_TXT = FIXTURES / "gaicd" / "txt"
FCDB_NAMES = [
    "16350626170_6b94890ff4_c.jpg",
    "16418163141_4a15e04365_c.jpg",
    "20935855725_e93b4d498c_c.jpg",
]


def _jpeg(path: Path, size: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 150)).save(path, quality=50)
    return path


def _url(name: str) -> str:
    return f"https://farm1.staticflickr.com/1/{name}"


def _copy_fcdb(tmp_path: Path) -> Path:
    root = tmp_path / "fcdb"
    shutil.copytree(FCDB, root)
    return root


# --------------------------------------------------------------------------------------- FCDB


def test_fcdb_fixture_converts_xywh_and_reads_pairs() -> None:
    read = read_fcdb(FCDB)
    assert read.problems == []
    assert [item.name for item in read.images] == FCDB_NAMES
    first, second, third = read.images
    assert first.path == FCDB / "images" / FCDB_NAMES[0]
    assert [item.size for item in read.images] == [(800, 533), (800, 534), (800, 473)]
    # [279, 112, 385, 379] and [36, 46, 655, 384] as [x, y, w, h]
    np.testing.assert_array_equal(first.best, [279, 112, 664, 491])
    np.testing.assert_array_equal(second.best, [36, 46, 691, 430])
    assert first.best.dtype == np.float32
    assert first.crops.shape == (0, 4) and first.mos is None
    assert first.pair_boxes.shape == (10, 2, 4) and first.pair_boxes.dtype == np.float32
    assert first.pair_votes.shape == (10, 2) and first.pair_votes.dtype.kind == "i"
    # crop_0 [198, 144, 400, 267], crop_1 [132, 123, 400, 267], votes 1 : 4
    np.testing.assert_array_equal(first.pair_boxes[0], [[198, 144, 598, 411], [132, 123, 532, 390]])
    np.testing.assert_array_equal(first.pair_votes[0], [1, 4])
    assert (first.pair_votes.sum(axis=1) == 5).all()
    # real FCDB overrun: [7, 96, 793, 378] ends at y = 474 in a 473 px high photo -> clipped
    np.testing.assert_array_equal(third.best, [7, 96, 800, 473])
    np.testing.assert_array_equal(third.pair_boxes[0], [[154, 170, 554, 406], [103, 225, 503, 461]])


def test_fcdb_photos_carry_no_exif_orientation() -> None:
    for name in FCDB_NAMES:
        with Image.open(FCDB / "images" / name) as im:
            assert 0x0112 not in im.getexif()


def test_fcdb_overruns_clipped_and_outside_boxes_skipped(tmp_path: Path) -> None:
    root = tmp_path / "fcdb"
    _jpeg(root / "21745708903_38eb372588_c.jpg", (800, 582))  # images directly in root
    _jpeg(root / "4910188666_04cf9f487d_b.jpg", (1024, 768))
    _jpeg(root / "far.jpg", (100, 100))
    _jpeg(root / "gone.jpg", (100, 100))
    crops = [
        {"url": _url("21745708903_38eb372588_c.jpg"), "crop": [7, 254, 793, 330]},  # 2 px past
        {"url": _url("4910188666_04cf9f487d_b.jpg"), "crop": [266, 6, 757, 399]},
        {"url": _url("far.jpg"), "crop": [10, 20, 120, 50]},  # 30 px past the right edge
        {"url": _url("gone.jpg"), "crop": [150, 0, 20, 20]},  # fully outside
    ]
    pairs = {
        "vote_for_0": 1,
        "vote_for_1": 4,
        "crop_0": [123, 200, 400, 291],
        "crop_1": [206, 230, 400, 291],
    }
    outside = {
        "vote_for_0": 3,
        "vote_for_1": 2,
        "crop_0": [0, 0, 50, 50],
        "crop_1": [0, 700, 50, 50],
    }
    ranking = [
        {"url": _url("21745708903_38eb372588_c.jpg"), "crops": [pairs, outside]},
        {"url": _url("not-in-this-split.jpg"), "crops": [pairs]},
    ]
    (root / "cropping_testing_set.json").write_text(json.dumps(crops))
    (root / "ranking_annotation.json").write_text(json.dumps(ranking))

    read = read_fcdb(root)
    by_name = {item.name: item for item in read.images}
    assert sorted(by_name) == [
        "21745708903_38eb372588_c.jpg",
        "4910188666_04cf9f487d_b.jpg",
        "far.jpg",
    ]
    np.testing.assert_array_equal(by_name["21745708903_38eb372588_c.jpg"].best, [7, 254, 800, 582])
    np.testing.assert_array_equal(by_name["4910188666_04cf9f487d_b.jpg"].best, [266, 6, 1023, 405])
    np.testing.assert_array_equal(by_name["far.jpg"].best, [10, 20, 100, 70])
    kept = by_name["21745708903_38eb372588_c.jpg"]
    np.testing.assert_array_equal(kept.pair_boxes, [[[123, 200, 523, 491], [206, 230, 606, 521]]])
    np.testing.assert_array_equal(kept.pair_votes, [[1, 4]])
    assert by_name["far.jpg"].pair_boxes.shape == (0, 2, 4)
    assert by_name["far.jpg"].pair_votes.shape == (0, 2)
    assert read.problems == [
        "21745708903_38eb372588_c.jpg: pair 1 box [0, 700, 50, 750] is outside in the 800x582 "
        "image; dropped",
        "far.jpg: best crop box [10, 20, 130, 70] runs 30 px past the 100x100 image; clipped",
        "gone.jpg: best crop box [150, 0, 170, 20] is outside in the 100x100 image; skipped",
    ]


def test_fcdb_missing_and_corrupt_images_are_problems(tmp_path: Path) -> None:
    root = _copy_fcdb(tmp_path)
    (root / "images" / FCDB_NAMES[0]).unlink()
    (root / "images" / FCDB_NAMES[1]).write_bytes(b"not a jpeg at all")
    read = read_fcdb(root)
    assert [item.name for item in read.images] == [FCDB_NAMES[2]]
    assert read.problems == [
        f"{FCDB_NAMES[0]}: image file not found",
        f"{FCDB_NAMES[1]}: cannot identify image file (not an image?)",
    ]


def test_fcdb_annotation_file_choice(tmp_path: Path) -> None:
    root = _copy_fcdb(tmp_path)
    (root / "ranking_annotation.json").unlink()  # optional: pairs become empty
    (root / "cropping_training_set.json").rename(root / "labels.json")
    with pytest.raises(DatasetError, match="no cropping_\\*_set.json"):
        read_fcdb(root)
    read = read_fcdb(root, annotation="labels.json")
    assert len(read.images) == 3 and read.images[0].pair_boxes.shape == (0, 2, 4)
    shutil.copy(root / "labels.json", root / "cropping_training_set.json")
    shutil.copy(root / "labels.json", root / "cropping_testing_set.json")
    with pytest.raises(DatasetError, match="several annotation files"):
        read_fcdb(root)
    with pytest.raises(DatasetError, match="nope.json: annotation file not found"):
        read_fcdb(root, annotation="nope.json")
    (root / "labels.json").write_text("[{")
    with pytest.raises(DatasetError, match="labels.json: not valid JSON"):
        read_fcdb(root, annotation="labels.json")
    with pytest.raises(DatasetError, match="not a folder"):
        read_fcdb(root / "missing")


# -------------------------------------------------------------------------------------- GAICD


def test_gaicd_json_layout_boxes_mos_and_absent_summary() -> None:
    read = read_gaicd(GAICD_JSON, None)
    assert [item.name for item in read.images] == ["211958.jpg", "265813.jpg"]
    assert read.problems == ["image_crop.json: 1 annotated images are not in images/"]
    train, test = read.images
    assert train.path == GAICD_JSON / "images" / "train" / "211958.jpg"
    assert (train.size, test.size) == ((1024, 683), (1024, 939))
    assert train.crops.shape == (87, 4) and test.crops.shape == (90, 4)
    assert train.crops.dtype == np.float32 and train.mos.dtype == np.float32
    np.testing.assert_array_equal(train.crops[:2], [[43, 28, 896, 541], [43, 28, 896, 598]])
    np.testing.assert_array_equal(train.mos[:2], np.float32([5.0, 4.86]))
    np.testing.assert_array_equal(test.crops[:2], [[43, 39, 811, 900], [128, 39, 725, 900]])
    np.testing.assert_array_equal(test.mos[:2], np.float32([4.29, 4.14]))
    assert train.best is None and train.pair_boxes.shape == (0, 2, 4)


def test_gaicd_json_split() -> None:
    train = read_gaicd(GAICD_JSON, "train")
    assert [item.name for item in train.images] == ["211958.jpg"] and train.problems == []
    test = read_gaicd(GAICD_JSON, "test")
    assert [item.name for item in test.images] == ["265813.jpg"]
    assert test.problems == ["image_crop.json: 1 annotated images are not in images/"]
    with pytest.raises(DatasetError, match="unknown GAICD split 'val'"):
        read_gaicd(GAICD_JSON, "val")


def test_gaicd_txt_layout_matches_json_layout() -> None:
    from_txt = read_gaicd(GAICD_TXT, None)
    from_json = read_gaicd(GAICD_JSON, None)
    assert from_txt.problems == []
    assert [i.name for i in from_txt.images] == [i.name for i in from_json.images]
    for a, b in zip(from_txt.images, from_json.images):
        assert a.size == b.size
        np.testing.assert_array_equal(a.crops, b.crops)
        np.testing.assert_array_equal(a.mos, b.mos)
    # txt line "28 43 541 896 5.00" is y1 x1 y2 x2 MOS
    np.testing.assert_array_equal(from_txt.images[0].crops[0], [43, 28, 896, 541])
    assert [i.name for i in read_gaicd(GAICD_TXT, "test").images] == ["265813.jpg"]
    assert [i.name for i in read_gaicd(GAICD_TXT, "train").images] == ["211958.jpg"]


def test_gaicd_txt_subfolder_is_accepted(tmp_path: Path) -> None:
    root = tmp_path / "gaicd"
    shutil.copytree(GAICD_TXT / "images", root / "images")
    shutil.copytree(GAICD_TXT / "annotations", root / "annotations" / "txt")
    read = read_gaicd(root, "train")
    assert read.problems == []
    np.testing.assert_array_equal(read.images[0].crops[1], [43, 28, 896, 598])


def test_gaicd_txt_skips_unrated_and_reports_bad_boxes(tmp_path: Path) -> None:
    root = tmp_path / "gaicd"
    _jpeg(root / "images" / "test" / "1.jpg", (200, 100))
    _jpeg(root / "images" / "test" / "2.jpg", (50, 50))
    _jpeg(root / "images" / "train" / "3.jpg", (50, 50))  # no annotation file
    (root / "annotations").mkdir()
    (root / "annotations" / "1.txt").write_text(
        "10 20 90 180 3.50\n"
        "0 0 100 200 -2\n"  # unrated
        "\n"
        "5 10 102 190 4.25\n"  # 2 px past the bottom: clipped silently
        "10 210 90 260 2.00\n"  # fully right of the image
        "garbage line\n"
    )
    (root / "annotations" / "2.txt").write_text("0 0 10 10 -2\n")
    (root / "annotations" / "4.txt").write_text("0 0 10 10 1.0\n")  # image absent

    read = read_gaicd(root, None)
    assert [item.name for item in read.images] == ["1.jpg"]
    item = read.images[0]
    np.testing.assert_array_equal(item.crops, [[20, 10, 180, 90], [10, 5, 190, 100]])
    np.testing.assert_array_equal(item.mos, np.float32([3.5, 4.25]))
    assert read.problems == [  # train folder first, then test
        "3.jpg: no annotations/3.txt; skipped",
        "1.jpg: 1.txt line 6 is not 'y1 x1 y2 x2 MOS'; skipped",
        "1.jpg: crop box [210, 10, 260, 90] is outside in the 200x100 image; skipped",
        "2.jpg: no usable crops; skipped",
        "annotations: 1 annotated images are not in images/",
    ]


def test_gaicd_without_annotations_is_an_error(tmp_path: Path) -> None:
    _jpeg(tmp_path / "images" / "test" / "1.jpg", (20, 20))
    with pytest.raises(DatasetError, match="no GAICD annotations"):
        read_gaicd(tmp_path, None)


# ---------------------------------------------------------------------------------- unlabelled


def test_read_unlabelled_sorted_recursive_with_problems(tmp_path: Path) -> None:
    _jpeg(tmp_path / "b.JPG", (30, 20))
    _jpeg(tmp_path / "sub" / "a.jpeg", (10, 40))
    Image.new("RGB", (12, 8)).save(tmp_path / "c.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"\x00" * 64)
    _jpeg(tmp_path / ".hidden" / "x.jpg", (5, 5))
    (tmp_path / "._b.JPG").write_bytes(b"resource fork")

    read = read_unlabelled(tmp_path)
    assert [(i.name, i.size) for i in read.images] == [
        ("b.JPG", (30, 20)),
        ("c.png", (12, 8)),
        ("sub/a.jpeg", (10, 40)),
    ]
    assert read.problems == ["broken.jpg: cannot identify image file (not an image?)"]
    item = read.images[0]
    assert item.path == tmp_path / "b.JPG"
    assert item.crops.shape == (0, 4) and item.mos is None and item.best is None
    assert item.pair_boxes.shape == (0, 2, 4) and item.pair_votes.shape == (0, 2)
    flat = read_unlabelled(tmp_path, recursive=False)
    assert [i.name for i in flat.images] == ["b.JPG", "c.png"]


# ------------------------------------------------------------------------------------ split


def _items(names: list[str]) -> list[LabelledImage]:
    return [LabelledImage(path=Path(n), name=n, size=(1, 1)) for n in names]


def test_split_items_is_deterministic_and_order_free() -> None:
    names = [f"a{i:02d}.jpg" for i in range(10)]
    train, val = split_items(_items(names), 0.3, seed=0)
    assert [i.name for i in val] == ["a02.jpg", "a04.jpg", "a06.jpg"]
    assert [i.name for i in train] == [
        "a00.jpg",
        "a01.jpg",
        "a03.jpg",
        "a05.jpg",
        "a07.jpg",
        "a08.jpg",
        "a09.jpg",
    ]
    train_r, val_r = split_items(_items(names[::-1]), 0.3, seed=0)
    assert [i.name for i in val_r] == ["a02.jpg", "a04.jpg", "a06.jpg"]
    assert [i.name for i in train_r] == [i.name for i in train]
    assert [i.name for i in split_items(_items(names), 0.3, seed=1)[1]] == [
        "a04.jpg",
        "a07.jpg",
        "a08.jpg",
    ]
    assert [len(part) for part in split_items(_items(names[:3]), 0.1, seed=0)] == [2, 1]
    assert [len(part) for part in split_items(_items(names), 0.0, seed=0)] == [10, 0]
    with pytest.raises(ValueError):
        split_items(_items(names), 1.0, seed=0)
