"""Writing crops (run/writers.py): decoded ahead on worker threads, bounded by pixels, and the
same bytes as :func:`save_crop` writes from a full decode."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import piexif
import pytest
from helpers import EXAMPLES, exif_bytes
from PIL import Image

from sacrop_cli.io.encode import save_crop
from sacrop_cli.io.imageio import open_photo
from sacrop_cli.io.inputs import scan_inputs
from sacrop_cli.run import writers
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.local import run_batch
from sacrop_cli.search import Crop

TARGET = (40, 30, 330, 250)  # inside every photo below


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Two examples and one stored on its side (EXIF Orientation 6)."""
    src = tmp_path / "in"
    src.mkdir()
    for name in ("coffee.jpg", "wine.jpg"):
        shutil.copy(EXAMPLES / name, src / name)
    shutil.copy(EXAMPLES / "coffee.jpg", src / "turned.jpg")
    piexif.insert(exif_bytes(orientation=6), str(src / "turned.jpg"))
    return src


@pytest.mark.parametrize(
    "options",
    [{}, {"format": "png"}, {"quality": 80}, {"max_size": (600, 600)}],
    ids=["default", "png", "quality-80", "max-size-under-2x"],
)
def test_written_crops_are_the_bytes_save_crop_writes(distance_cropper, photos, tmp_path, options):
    job = CropJob(("4:3", "1:1"), 2, tmp_path / "out", **options)
    report = run_batch(distance_cropper(TARGET), scan_inputs([photos]), job)
    assert [r["status"] for r in report.records] == ["ok"] * 3
    boxes = [c["box"] for r in report.records for c in r["crops"]]
    assert writers.draft_reduction(boxes, job.max_size) == 1  # a full decode, as before
    written = 0
    for record in report.records:
        photo = open_photo(record["source"])  # the single-threaded path: one full decode
        for crop in record["crops"]:
            assert crop["status"] == "written"
            expected = tmp_path / "expected" / Path(crop["path"]).name
            expected.parent.mkdir(exist_ok=True)
            save_crop(photo, tuple(crop["box"]), expected, **job.save_options())
            assert Path(crop["path"]).read_bytes() == expected.read_bytes()
            written += 1
    assert written == 12


def test_draft_reduction():
    assert writers.draft_reduction([(0, 0, 800, 600)], None) == 1
    assert writers.draft_reduction([(0, 0, 800, 600)], (100, 100)) == 8
    assert writers.draft_reduction([(0, 0, 800, 600), (0, 0, 300, 300)], (100, 100)) == 2
    assert writers.draft_reduction([(0, 0, 150, 150)], (100, 100)) == 1  # 1.5x: full decode
    assert writers.draft_reduction([(10, 0, 410, 100)], (100, 1000)) == 4


def test_max_size_shrinking_4x_decodes_through_the_draft(
    distance_cropper, photos, tmp_path, monkeypatch
):
    reduces = []
    real_open = writers.open_photo

    def spy(path, **kwargs):
        reduces.append(kwargs["reduce"])
        return real_open(path, **kwargs)

    monkeypatch.setattr(writers, "open_photo", spy)
    job = CropJob(("4:3",), 1, tmp_path / "out", max_size=(72, 72))
    report = run_batch(distance_cropper(TARGET), scan_inputs([photos]), job)
    assert sorted(reduces) == [4, 4, 8]  # coffee's crops shrink 4x or more, wine's 8x
    for record in report.records:
        [crop] = record["crops"]
        full = tmp_path / "full" / Path(crop["path"]).name
        full.parent.mkdir(exist_ok=True)
        save_crop(open_photo(record["source"]), tuple(crop["box"]), full, max_size=(72, 72))
        with Image.open(crop["path"]) as got, Image.open(full) as want:
            assert got.size == want.size == (72, 54)
            diff = np.abs(np.asarray(got, np.int16) - np.asarray(want, np.int16))
            # the same picture, a little less sharp (the DCT's shrink): 3 levels in 255
            assert diff.mean() < 4
            assert abs(np.asarray(got).mean() - np.asarray(want).mean()) < 1


def test_cost_counts_the_decode_and_the_crops():
    decoder = writers.DecodeAhead(writers.LocalWriter(lambda p: False), CropJob(), threads=1)
    record = {"width": 400, "height": 300}
    crops = [Crop("any", 1, (0, 0, 200, 100), 0.5)]
    assert decoder.cost(record, crops) == 400 * 300 + 200 * 100
    assert decoder.cost(record, None) == 0
    shrunk = writers.DecodeAhead(decoder.writer, CropJob(max_size=(50, 50)), threads=1)
    assert shrunk.cost(record, crops) == 400 * 300 // 16 + 50 * 25  # a quarter-size decode
    assert writers.DecodeAhead(decoder.writer, CropJob(dry_run=True)).cost(record, crops) == 0
    decoder.pool.shutdown()
    shrunk.pool.shutdown()


def test_photos_over_the_pixel_budget_are_decoded_one_at_a_time(
    distance_cropper, photos, tmp_path, monkeypatch
):
    monkeypatch.setattr(writers, "PIXELS_IN_FLIGHT", 1)
    lock, running, most = threading.Lock(), [0], [0]
    real_open = writers.open_photo

    def counted(path, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        try:
            return real_open(path, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(writers, "open_photo", counted)
    report = run_batch(
        distance_cropper(TARGET), scan_inputs([photos]), CropJob(("4:3",), 1, tmp_path / "out")
    )
    assert [Path(r["source"]).name for r in report.records] == [
        "coffee.jpg",
        "turned.jpg",
        "wine.jpg",
    ]
    assert report.counts["crops_written"] == 3
    assert most[0] == 1

