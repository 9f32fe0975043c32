"""``sacrop train --reviews`` and ``sacrop eval --reviews`` as people run them: review records ->
learned weights -> crops that follow the taste; and each bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import EXAMPLES, run, tightest_hits, tightest_review
from PIL import Image

from sacrop_cli.model.registry import resolve_weights, sha256_file

pytest.importorskip("torch")

PHOTOS = ["astronaut", "chelsea-cat", "coffee", "friends", "picos-de-europa", "rocket", "sunset"]


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[dict]]:
    """Photos, the review FILE of a person who always takes the tightest rank offered, and
    the records as sacrop analysed them."""
    folder = tmp_path_factory.mktemp("learn")
    photos = []
    for name in PHOTOS:
        photos.append(folder / f"{name}.jpg")
        shutil.copy(EXAMPLES / f"{name}.jpg", photos[-1])
    manifest = folder / "review.jsonl"
    records = tightest_review(photos, manifest)
    return folder, manifest, records


def first_areas(records: list[dict]) -> float:
    """The sum over the photos of the share of the photo rank 1 keeps."""
    total = 0.0
    for record in records:
        box = next(c["box"] for c in record["proposals"] if c["rank"] == 1)
        total += (box[2] - box[0]) * (box[3] - box[1]) / (record["width"] * record["height"])
    return total


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.slow
def test_learned_weights_crop_toward_the_taste(reviewed, tmp_path: Path) -> None:
    folder, manifest, analysed = reviewed
    records = lines(manifest)
    # a photo gone since, one resized since, and a box outside its photo
    gone = {**records[0], "source": str(folder / "gone.jpg")}
    with Image.open(records[1]["source"]) as photo:
        photo.resize((photo.width // 2, photo.height // 2)).save(tmp_path / "smaller.jpg")
    resized = {**records[1], "source": str(tmp_path / "smaller.jpg")}
    records[2]["proposals"][1]["box"] = [0, 0, records[2]["width"] + 50, 10]
    file = write(tmp_path / "review.jsonl", [*records[2:], gone, resized])
    check = write(tmp_path / "check.jsonl", records[:2])
    out = tmp_path / "mine.pt"
    result = run("train", "--reviews", file, "--val-reviews", check, "-o", out)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "outside its" in said
    assert "7 reviewed photos (fewer than 20)" in said
    assert "learned from 5 reviewed photo(s)" in said
    assert "skipped 1 missing, 1 size changed" in said
    assert "checked on 2 reviewed photo(s): rank 1 is the crop chosen in" in said
    from sacrop_cli.model.checkpoint import read_checkpoint

    shipped = resolve_weights(None, kind="torch", allow_download=False)
    training = read_checkpoint(out).meta["training"]
    assert training["base"] == {"name": shipped.name, "sha256": sha256_file(shipped)}
    assert training["reviews"]["files"] == [{"path": str(file), "sha256": sha256_file(file)}]
    assert training["reviews"]["photos"] == 7
    assert training["reviews"]["learned_photos"] == 5
    assert training["reviews"]["checked"] == 2
    assert out.stat().st_size <= shipped.stat().st_size
    assert out.with_suffix(".onnx").is_file()
    # the learned weights' rank 1 is tighter: the reviewed photos' rank 1 keeps less of them
    again = tmp_path / "again.jsonl"
    learned = tightest_review([folder / f"{n}.jpg" for n in PHOTOS], again, str(out))
    assert first_areas(learned) < first_areas(analysed)


def test_nothing_to_learn_is_one_line_and_status_2(reviewed, tmp_path: Path) -> None:
    _, _, analysed = reviewed
    file = write(tmp_path / "untouched.jsonl", analysed)
    result = run("train", "--reviews", file, "-o", tmp_path / "m.pt")
    assert result.exit_code == 2
    assert result.output == f"error: {file}: nothing to learn: no photo marked done or changed\n"
    assert not (tmp_path / "m.pt").exists()


def test_eval_reviews_counts_the_choices_rank_1_matches(reviewed, tmp_path: Path) -> None:
    _, manifest, analysed = reviewed
    accepted = write(tmp_path / "accept.jsonl", [{**r, "reviewed": "now"} for r in analysed])
    result = run("eval", "--reviews", accepted, "-q")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["agreement"]
    assert (got["crops"], got["agree"], got["changed"]) == (len(PHOTOS), len(PHOTOS), 0)
    result = run("eval", "--reviews", manifest, "-q")
    got = json.loads(result.stdout)["agreement"]
    hits = tightest_hits(analysed)
    assert (got["crops"], got["agree"], got["changed"]) == (len(PHOTOS), hits, len(PHOTOS) - hits)


def test_reviews_with_a_dataset_is_refused_for_now(tmp_path: Path) -> None:
    file = write(tmp_path / "r.jsonl", [])
    result = run("train", "--reviews", file, "--fcdb", tmp_path, "-o", tmp_path / "m.pt")
    assert result.exit_code == 2
