"""The batch driver with stand-in executors: records in input order whatever order photos
finish in, the photos done before in their places, the stop rules and the counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from sacrop_cli.io.inputs import InputScan
from sacrop_cli.record import new_record
from sacrop_cli.run.driver import Batch, PhotoResult, run_batch
from sacrop_cli.run.job import CropJob
from sacrop_cli.run.naming import Namer
from sacrop_cli.run.writers import CropWriter, LocalWriter


class Reversed:
    """Finishes the photos of each group of ``size`` last first; a photo named in ``full``
    stops the run as a full disk would; a stop ends it after the group under way."""

    def __init__(self, size: int, full: str | None = None) -> None:
        self.size, self.full, self.asked = size, full, 0

    def writer(self, job: CropJob, namer: Namer) -> CropWriter:
        return LocalWriter(namer.is_source)

    def results(self, batch: Batch) -> Iterator[list[PhotoResult]]:
        for start in range(0, len(batch.todo), self.size):
            self.asked += 1
            group = batch.todo[start : start + self.size][::-1]
            yield [
                PhotoResult(
                    t.path,
                    t.plan,
                    new_record(t.path, (4, 3)),
                    warnings=[f"{t.path.name} seen"],
                    stop="No space left on device" if t.path.name == self.full else None,
                    position=t.position,
                )
                for t in group
            ]
            if batch.stopping():  # as executors do: a stop ends the run after this group
                return


def _scan(tmp_path: Path, names: list[str]) -> InputScan:
    for name in names:
        (tmp_path / name).write_bytes(b"")
    return InputScan(
        images=[(tmp_path / n, None) for n in names], skipped=[], missing=[tmp_path / "gone.jpg"]
    )


def test_records_come_in_input_order_whatever_order_photos_finish_in(tmp_path):
    scan = _scan(tmp_path, ["a.jpg", "b.jpg", "c.jpg"])
    seen = []
    report = run_batch(
        Reversed(2),
        scan,
        CropJob(dry_run=True),
        on_progress=lambda record, warnings: seen.append((Path(record["source"]).name, warnings)),
    )
    assert seen == [
        ("gone.jpg", []),
        ("a.jpg", ["a.jpg seen"]),
        ("b.jpg", ["b.jpg seen"]),
        ("c.jpg", ["c.jpg seen"]),
    ]
    names = [Path(r["source"]).name for r in report.records]
    assert names == ["gone.jpg", "a.jpg", "b.jpg", "c.jpg"]
    counts = {k: report.counts[k] for k in ("images", "ok", "missing", "not_processed")}
    assert counts == {"images": 3, "ok": 3, "missing": 1, "not_processed": 0}
    assert report.stopped is None and report.failed


def test_a_request_to_stop_ends_the_run_after_the_group_under_way(tmp_path):
    scan = _scan(tmp_path, ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"])
    executor, seen = Reversed(2), []
    report = run_batch(
        executor,
        scan,
        CropJob(dry_run=True),
        on_progress=lambda record, warnings: seen.append(Path(record["source"]).name),
        should_stop=lambda: "b.jpg" in seen,
    )
    assert (report.stopped, executor.asked) == ("interrupted", 1)
    assert seen == ["gone.jpg", "a.jpg", "b.jpg"]
    assert (report.counts["images"], report.counts["not_processed"]) == (2, 3)


def test_a_full_disk_stops_the_run_with_what_finished(tmp_path):
    scan = _scan(tmp_path, ["a.jpg", "b.jpg", "c.jpg", "d.jpg"])
    report = run_batch(Reversed(2, full="c.jpg"), scan, CropJob(dry_run=True))
    assert report.stopped == "No space left on device"
    assert [Path(r["source"]).name for r in report.records] == [
        "gone.jpg",
        "a.jpg",
        "b.jpg",
        "c.jpg",
        "d.jpg",
    ]


def test_no_photo_to_crop_asks_nothing_of_the_executor(tmp_path):
    executor = Reversed(2)
    report = run_batch(executor, _scan(tmp_path, []), CropJob(dry_run=True))
    assert executor.asked == 0
    assert [r["status"] for r in report.records] == ["error"]
