"""The batch pipeline called directly: counts, records, threads."""

from __future__ import annotations

import pytest
from helpers import EXAMPLES


def test_run_batch_counts(random_weights, photo_dir, tmp_path):
    from sacrop_cli.api import Cropper
    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.run.job import CropJob
    from sacrop_cli.run.local import run_batch

    (photo_dir / "broken.jpg").write_text("not a photo")
    (photo_dir / "notes.txt").write_text("shot list")
    seen = []
    report = run_batch(
        Cropper(random_weights, device="cpu"),
        scan_inputs([photo_dir]),
        CropJob(
            ("4:3", "1:1"),
            2,
            tmp_path / "out",
            dry_run=False,
            overwrite=False,
            format=None,
            quality=90,
            max_size=None,
            max_pixels=None,
            batch_size=2,
        ),
        on_progress=lambda record, warnings: seen.append(record["source"]),
    )
    counts = {k: v for k, v in report.counts.items() if k != "seconds"}
    assert counts == {
        "already_done": 0,
        "images": 4,
        "ok": 3,
        "errors": 1,
        "missing": 0,
        "crops": 12,
        "crops_written": 12,
        "crops_existing": 0,
        "sidecars": 0,
        "skipped_files": 1,
        "not_processed": 0,
    }
    assert (
        seen
        == [r["source"] for r in report.records]
        == [
            str(photo_dir / n)
            for n in ("notes.txt", "broken.jpg", "chelsea-cat.jpg", "coffee.jpg", "sub/rocket.jpg")
        ]
    )
    assert report.records[0] == {
        "source": str(photo_dir / "notes.txt"),
        "width": None,
        "height": None,
        "faces": None,
        "status": "skipped",
        "crops": [],
        "sidecar": None,
        "folder": None,
        "error": f"{photo_dir / 'notes.txt'}: skipped: .txt files are not photos sacrop reads",
    }
    assert report.failed


class _ThreadClock:
    """A stand-in for the ``time`` module whose ``perf_counter`` advances by 1.5 s at each
    reading, per thread: a span timed within one thread lasts exactly 1.5 s, whatever the
    other threads do meanwhile."""

    def __init__(self) -> None:
        import threading

        self.local = threading.local()

    def perf_counter(self) -> float:
        self.local.now = getattr(self.local, "now", 0.0) + 1.5
        return self.local.now


def test_run_batch_times_each_batch_and_leaves_no_threads(random_weights, photo_dir, monkeypatch):
    import threading

    from sacrop_cli.api import Cropper
    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.run import driver, local
    from sacrop_cli.run.job import CropJob

    clock = _ThreadClock()
    monkeypatch.setattr(local, "time", clock)  # each batch's
    monkeypatch.setattr(driver, "time", clock)  # the run's
    report = local.run_batch(
        Cropper(random_weights, device="cpu"),
        scan_inputs([photo_dir]),
        CropJob(("any",), 1, dry_run=True, batch_size=2),
    )
    # each batch timed from its own start to its own end, the run from start to end
    assert report.batch_seconds == [(2, 1.5), (1, 1.5)]
    assert report.counts["seconds"] == 1.5
    assert not [t.name for t in threading.enumerate() if t.name.startswith("sacrop-")]


@pytest.mark.parametrize("engine", ["onnx", "torch"])
def test_run_batch_scores_two_batches_side_by_side_on_the_cpu(
    random_weights, photo_dir, monkeypatch, engine
):
    import threading

    import torch

    from sacrop_cli.api import Cropper
    from sacrop_cli.engines import onnx_engine
    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.run.job import CropJob
    from sacrop_cli.run.local import run_batch

    monkeypatch.setattr(onnx_engine, "cpu_cores", lambda: 2)  # a 2-core machine, as CI's
    cropper = Cropper(random_weights, device="cpu", engine=engine)
    expected = {str(p): cropper.crop(p, ["any"], 1) for p, _ in scan_inputs([photo_dir]).images}
    seen = []
    best_crops = cropper.best_crops

    def spy(*args, **kwargs):
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return best_crops(*args, **kwargs)

    monkeypatch.setattr(cropper, "best_crops", spy)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        report = run_batch(
            cropper, scan_inputs([photo_dir]), CropJob(("any",), 1, dry_run=True, batch_size=1)
        )
        assert torch.get_num_threads() == 2  # restored
    finally:
        torch.set_num_threads(threads)
    assert len({name for name, _ in seen}) == 2
    if engine == "torch":  # each worker on one of torch's two threads
        assert {n for _, n in seen} == {1}
    else:  # one ONNX Runtime thread per run
        assert cropper.engine.threads == 1
    # the same crops, in input order, as one photo at a time
    assert [r["source"] for r in report.records] == list(expected)
    for record in report.records:
        want = expected[record["source"]][0]
        assert (record["crops"][0]["box"], record["crops"][0]["score"]) == (
            list(want.box),
            round(want.score, 4),
        )


def test_names_are_planned_before_analysis_so_a_failed_photo_keeps_its_name(
    random_weights, tmp_path
):
    from PIL import Image

    from sacrop_cli.api import Cropper
    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.run.job import CropJob
    from sacrop_cli.run.local import run_batch

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jpg").write_text("not a photo (yet: fixed later, it gets the same name)")
    with Image.open(EXAMPLES / "coffee.jpg") as im:
        im.save(src / "a.png")
    report = run_batch(
        Cropper(random_weights, device="cpu"),
        scan_inputs([src]),
        CropJob(("4:3",), 1, tmp_path / "out", format="jpeg"),
    )
    assert [r["status"] for r in report.records] == ["error", "ok"]
    assert report.records[1]["crops"][0]["path"] == str(tmp_path / "out" / "a-2.4x3.1.jpg")


def test_run_batch_writes_the_crop_of_a_distance_engine(distance_cropper, tmp_path):
    """The pipeline end to end on a known score landscape: no network, no torch."""
    import shutil

    from PIL import Image

    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.run.job import CropJob
    from sacrop_cli.run.local import run_batch

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(EXAMPLES / "coffee.jpg", src / "coffee.jpg")
    report = run_batch(
        distance_cropper((58, 50, 525, 361)),
        scan_inputs([src]),
        CropJob(("4:3",), 1, tmp_path / "out"),
    )
    [record] = report.records
    [crop] = record["crops"]
    assert (record["status"], crop["status"]) == ("ok", "written")
    assert crop["box"] == [87, 42, 513, 362]
    assert crop["path"] == str(tmp_path / "out" / "coffee.4x3.1.jpg")
    x1, y1, x2, y2 = crop["box"]
    with Image.open(crop["path"]) as im:
        assert im.size == (x2 - x1, y2 - y1)


def test_hints_of_the_job_and_of_each_photo_steer_the_run(distance_cropper, tmp_path):
    """``--keep`` for every photo, a hints-file line for one; a hint outside a photo fails
    that photo alone, in one line naming it."""
    import shutil

    from sacrop_cli.hints import Hints
    from sacrop_cli.io.inputs import scan_inputs
    from sacrop_cli.run.job import CropJob
    from sacrop_cli.run.local import run_batch

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(EXAMPLES / "coffee.jpg", src / "a.jpg")  # 600 x 400
    shutil.copy(EXAMPLES / "coffee.jpg", src / "b.jpg")
    shutil.copy(EXAMPLES / "coffee.jpg", src / "c.jpg")
    job = CropJob(
        ("4:3",),
        2,
        tmp_path / "out",
        dry_run=True,
        hints=Hints.of(keep="400,100,590,200"),
        photo_hints={
            str(src / "b.jpg"): Hints.of(avoid="0,0,30%,30%"),
            str(src / "c.jpg"): Hints.of(focus="700,10"),
        },
    )
    report = run_batch(distance_cropper((58, 50, 525, 361)), scan_inputs([src]), job)
    a, b, c = report.records
    assert [x["box"] for x in a["crops"]] == [[57, 0, 590, 400], [190, 67, 590, 367]]
    # b also leaves the top-left corner (0, 0, 180, 120) out
    assert [x["box"] for x in b["crops"]] == [[190, 56, 590, 356], [217, 0, 590, 280]]
    assert (c["status"], c["error"]) == (
        "error",
        f"{src / 'c.jpg'}: the focus point 700,10 is outside the 600x400 photo",
    )
    assert report.failed and report.counts["ok"] == 2
